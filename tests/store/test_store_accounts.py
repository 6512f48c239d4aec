"""Accounts, hashed API tokens, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from dreamloom.store import accounts
from dreamloom.store.accounts import DEFAULT_SETTINGS, AccountExistsError, hash_token
from dreamloom.store.db import Database
from dreamloom.store.tables import ApiToken


def test_create_and_find_accounts(db: Database) -> None:
    with db.session() as session:
        account = accounts.create_account(session, "ada", "pro")
        assert account.id is not None
    with db.session() as session:
        found = accounts.get_account_by_name(session, "ada")
        assert found is not None and found.plan == "pro"
        assert found.settings == DEFAULT_SETTINGS
        assert found.created.tzinfo is not None
        assert found.cycle_start == found.created
        assert accounts.get_account(session, found.id) is not None
        assert accounts.get_account(session, 999_999) is None


def test_duplicate_name_is_refused_and_the_transaction_stays_usable(db: Database) -> None:
    with db.session() as session:
        accounts.create_account(session, "ada", "basic")
    with db.session() as session:
        with pytest.raises(AccountExistsError):
            accounts.create_account(session, "ada", "basic")
        accounts.create_account(session, "bob", "basic")
    with db.session() as session:
        assert [a.name for a in accounts.list_accounts(session)] == ["ada", "bob"]


def test_tokens_are_stored_hashed_and_authenticate(db: Database) -> None:
    with db.session() as session:
        account_id = accounts.create_account(session, "ada", "basic").id
        issued = accounts.issue_token(session, account_id)
    assert issued.plaintext.startswith("dl_") and len(issued.plaintext) > 30
    assert issued.plaintext.startswith(issued.prefix)

    with db.session() as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash == hash_token(issued.plaintext)
        assert row.last_used is None
        # The plaintext appears in no column of any row.
        for table in ("api_tokens", "accounts"):
            for values in session.execute(text(f"SELECT * FROM {table}")):
                assert all(issued.plaintext not in str(value) for value in values)

    with db.session() as session:
        found = accounts.find_token(session, issued.plaintext)
        assert found is not None and found.account_id == account_id
        assert accounts.find_token(session, issued.plaintext + "x") is None
        assert accounts.find_token(session, "") is None
        accounts.note_use(session, found.id, datetime.now(UTC))
    with db.session() as session:
        assert accounts.list_tokens(session, account_id)[0].last_used is not None


def test_last_use_is_written_at_most_once_a_minute(db: Database) -> None:
    start = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    with db.session() as session:
        account_id = accounts.create_account(session, "ada", "basic").id
        issued = accounts.issue_token(session, account_id)

    def last_used() -> datetime | None:
        with db.session() as session:
            return accounts.list_tokens(session, account_id)[0].last_used

    for offset, expected in ((0, 0), (30, 0), (59, 0), (60, 60), (90, 60)):
        with db.session() as session:
            found = accounts.find_token(session, issued.plaintext)
            assert found is not None and found.account_id == account_id
            accounts.note_use(session, found.id, start + timedelta(seconds=offset))
        assert last_used() == start + timedelta(seconds=expected), offset
    with db.session() as session:
        row = accounts.find_token(session, issued.plaintext)
        assert row is not None and row.account_id == account_id
        assert accounts.find_token(session, issued.plaintext + "x") is None
        accounts.note_use(session, row.id, start + timedelta(seconds=100))  # not a minute on
    assert last_used() == start + timedelta(seconds=60)


def test_sqlite_file_does_not_contain_the_plaintext(db: Database, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("file check is SQLite-only")
    with db.session() as session:
        account_id = accounts.create_account(session, "ada", "basic").id
        issued = accounts.issue_token(session, account_id)
    db.dispose()  # checkpoint the WAL into the main file
    path = db_url.removeprefix("sqlite:///")
    raw = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
    assert issued.plaintext.encode() not in raw
    assert hash_token(issued.plaintext).encode() in raw


def test_revoked_tokens_no_longer_authenticate(db: Database) -> None:
    with db.session() as session:
        ada = accounts.create_account(session, "ada", "basic").id
        bob = accounts.create_account(session, "bob", "basic").id
        issued = accounts.issue_token(session, ada)
    with db.session() as session:
        assert accounts.revoke_token(session, bob, issued.id) is None  # not bob's token
        assert accounts.revoke_token(session, ada, issued.id) == accounts.hash_token(
            issued.plaintext
        )
    with db.session() as session:
        assert accounts.find_token(session, issued.plaintext) is None


def test_settings_merge_reset_and_defaults(db: Database) -> None:
    with db.session() as session:
        account_id = accounts.create_account(session, "ada", "basic").id
    with db.session() as session:
        updated = accounts.update_settings(
            session, account_id, {"mode": "relax", "suffix": "--ar 16:9", "stylize": 250}
        )
        assert updated["mode"] == "relax" and updated["remix"] is False
    with db.session() as session:
        settings = accounts.get_settings(session, account_id)
        assert settings["suffix"] == "--ar 16:9" and settings["stylize"] == 250
        accounts.update_settings(
            session, account_id, {"option_sets": {"mine": "--chaos 20"}, "stylize": None}
        )
    with db.session() as session:
        settings = accounts.get_settings(session, account_id)
        assert settings["stylize"] is None
        assert settings["option_sets"] == {"mine": "--chaos 20"}
        # Reset Settings clears the suffix and every setting, and keeps the option sets.
        kept = {**DEFAULT_SETTINGS, "option_sets": {"mine": "--chaos 20"}}
        assert accounts.reset_settings(session, account_id) == kept
    with db.session() as session:
        assert accounts.get_settings(session, account_id) == kept


def test_plan_change_and_strikes(db: Database) -> None:
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with db.session() as session:
        account_id = accounts.create_account(session, "ada", "basic").id
    with db.session() as session:
        accounts.set_plan(session, account_id, "pro", restart_cycle=True, now=later)
        accounts.record_strike(session, account_id, timeout_until=later)
    with db.session() as session:
        account = accounts.require_account(session, account_id)
        assert account.plan == "pro"
        assert account.cycle_start == later
        assert account.moderation_strikes == 1 and account.timeout_until == later
    with db.session() as session, pytest.raises(accounts.AccountNotFoundError):
        accounts.require_account(session, 424242)
