"""A write that cannot be made now (the write lock held too long, a full disk) raises a typed
store error after a bounded wait, and leaves nothing half written."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from dreamloom.store import accounts
from dreamloom.store.db import Database, upgrade
from dreamloom.store.errors import StoreBusy, StoreFull
from dreamloom.store.tables import Account
from dreamloom.store.write_lock import SQLiteWriteLock


def _accounts(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Account)) or 0)


def test_a_writer_gives_up_on_a_lock_held_too_long_and_takes_it_once_free(
    tmp_path: Path,
) -> None:
    """Two locks on one file exclude each other as two processes' would."""
    database = str(tmp_path / "dreamloom.db")
    holder, waiter = SQLiteWriteLock(database), SQLiteWriteLock(database, timeout_s=0.3)
    with holder:
        started = time.monotonic()
        with pytest.raises(StoreBusy, match="busy"):
            waiter.__enter__()
        assert 0.25 <= time.monotonic() - started < 3
        with pytest.raises(StoreBusy):  # and again: the abandoned wait blocks nothing
            waiter.__enter__()
    got_it = threading.Event()

    def take() -> None:
        with waiter:
            got_it.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert got_it.wait(3)
    thread.join(3)
    with holder:  # the given-up waits let go of the lock once they had it
        pass
    holder.close()
    waiter.close()


def test_a_contended_lock_is_handed_over_at_once(tmp_path: Path) -> None:
    database = str(tmp_path / "dreamloom.db")
    holder, waiter = SQLiteWriteLock(database), SQLiteWriteLock(database, timeout_s=5)
    waited: list[float] = []

    def take() -> None:
        started = time.monotonic()
        with waiter:
            waited.append(time.monotonic() - started)

    with holder:
        thread = threading.Thread(target=take)
        thread.start()
        time.sleep(0.2)
    thread.join(5)
    assert len(waited) == 1 and 0.15 < waited[0] < 1.0
    holder.close()
    waiter.close()


def test_a_write_session_raises_store_busy_while_another_program_holds_sqlite(
    tmp_path: Path,
) -> None:
    """An operator's sqlite3 shell in a write transaction: SQLite's own lock, not ours."""
    path = tmp_path / "dreamloom.db"
    db = Database(f"sqlite:///{path}", busy_timeout_s=0.3)
    upgrade(db)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy), db.session(write=True) as session:
            accounts.create_account(session, "blocked", "basic")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _accounts(db) == 0
    with db.session(write=True) as session:
        accounts.create_account(session, "later", "basic")
    assert _accounts(db) == 1
    db.dispose()


def test_a_full_database_raises_store_full_and_writes_nothing(tmp_path: Path) -> None:
    """SQLite's page limit stands in for a full disk: the same error, SQLITE_FULL."""
    path = tmp_path / "dreamloom.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    with db.session() as session:
        pages = session.connection().exec_driver_sql("PRAGMA page_count").scalar()
    db.engine.dispose()

    @event.listens_for(db.engine, "connect")
    def _full(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    with pytest.raises(StoreFull, match="disk is full"), db.session(write=True) as session:
        for i in range(200):
            accounts.create_account(session, f"user{i}" + "x" * 400, "basic")
            session.flush()
    assert _accounts(db) == 0
    db.dispose()


def test_which_errors_mean_try_again_later() -> None:
    """A file write on a full disk (an upload, say) counts as a full store; other OS and
    driver errors stay what they are (a 500: a bug to see, not to retry)."""
    import errno

    from dreamloom.store.errors import unavailable

    assert isinstance(unavailable(OSError(errno.ENOSPC, "No space left on device"), 1), StoreFull)
    assert isinstance(unavailable(OSError(errno.EDQUOT, "Disk quota exceeded"), 1), StoreFull)
    assert unavailable(FileNotFoundError(errno.ENOENT, "gone"), 1) is None
    assert unavailable(sqlite3.OperationalError("no such table: x"), 1) is None
    busy = unavailable(sqlite3.OperationalError("database is locked"), 2.5)
    assert isinstance(busy, StoreBusy) and "2.5 s" in busy.message and busy.retry_after_s > 0
