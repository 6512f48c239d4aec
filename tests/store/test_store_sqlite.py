"""SQLite settings a multi-threaded server relies on."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select, text

from dreamloom.store import accounts
from dreamloom.store.db import Database, create_engine_for, upgrade
from dreamloom.store.tables import Account


def test_pragmas(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    engine.dispose()


def test_in_memory_database_is_shared_by_sessions() -> None:
    db = Database("sqlite://")
    upgrade(db)
    with db.session() as session:
        accounts.create_account(session, "mem", "basic")
    with db.session() as session:
        assert accounts.get_account_by_name(session, "mem") is not None
    db.dispose()


def test_concurrent_read_modify_write_transactions_do_not_lose_updates(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(db)
    with db.session() as session:
        account_id = accounts.create_account(session, "counter", "basic").id
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(20):
                with db.session(write=True) as session:
                    account = session.get(Account, account_id)
                    assert account is not None
                    account.moderation_strikes = account.moderation_strikes + 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session() as session:
        assert session.scalar(select(func.sum(Account.moderation_strikes))) == 80
    db.dispose()
