"""The bearer-token cache: fast while fresh, renewed in the background when stale, and never
trusted past its limit (a token revoked by another process stops working)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamloom.config import Settings
from dreamloom.service import Service
from dreamloom.service import accounts as accounts_mod
from dreamloom.store import accounts as accounts_repo
from dreamloom.store.tables import ApiToken


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(accounts_mod, "time", fake)
    return fake


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with Service(Settings(data_dir=tmp_path, model="tiny", workers=1), dispatch=False) as svc:
        yield svc


def _revoke_behind_its_back(service: Service, token: str) -> None:
    """What another process does: straight to the database, this process's cache untold."""
    digest = accounts_repo.hash_token(token)
    with service.db.session(write=True) as session:
        for row in session.query(ApiToken).filter(ApiToken.token_hash == digest):
            row.revoked = True


def _wait_for_renewals(service: Service) -> None:
    deadline = time.monotonic() + 10
    while service.accounts._auth_renewing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not service.accounts._auth_renewing


def test_fresh_entry_answers_without_the_database(service: Service, clock: _Clock) -> None:
    account, token = service.create_user("alice", "standard")
    assert service.cached_account(token) is None  # never looked up
    assert service.authenticate(token) == account
    _revoke_behind_its_back(service, token)
    clock.now += accounts_mod.AUTH_CACHE_SECONDS - 0.1
    assert service.cached_account(token) == account  # fresh: the revocation is not seen yet
    assert not service.accounts._auth_renewing


def test_stale_entry_answers_and_is_renewed_in_the_background(
    service: Service, clock: _Clock
) -> None:
    account, token = service.create_user("bob", "standard")
    assert service.authenticate(token) == account
    _revoke_behind_its_back(service, token)
    clock.now += accounts_mod.AUTH_CACHE_SECONDS + 0.1
    # The request is answered at once from the stale entry...
    assert service.cached_account(token) == account
    _wait_for_renewals(service)
    # ...and the renewal saw the revocation: the next request is refused.
    assert service.cached_account(token) is None
    assert service.authenticate(token) is None


def test_renewal_keeps_a_valid_token_cached(service: Service, clock: _Clock) -> None:
    account, token = service.create_user("carol", "standard")
    service.authenticate(token)
    clock.now += accounts_mod.AUTH_CACHE_SECONDS + 0.1
    assert service.cached_account(token) == account
    _wait_for_renewals(service)
    clock.now += accounts_mod.AUTH_CACHE_SECONDS - 0.2  # fresh again after the renewal
    assert service.cached_account(token) == account
    assert not service.accounts._auth_renewing


def test_entry_past_the_stale_limit_is_not_trusted(service: Service, clock: _Clock) -> None:
    _account, token = service.create_user("dave", "standard")
    service.authenticate(token)
    _revoke_behind_its_back(service, token)
    clock.now += accounts_mod.AUTH_STALE_SECONDS + 0.1
    assert service.cached_account(token) is None
    assert service.authenticate(token) is None


def test_change_made_here_is_not_undone_by_a_look_up_in_flight(
    service: Service, clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, token = service.create_user("erin", "standard")
    real = accounts_repo.find_token

    def changed_meanwhile(session: object, token: str) -> object:
        found = real(session, token)  # type: ignore[arg-type]
        service.accounts.forget(account.id)  # e.g. its settings changed through this process
        return found

    monkeypatch.setattr(accounts_mod.accounts_repo, "find_token", changed_meanwhile)
    assert service.authenticate(token) == account
    # What that look-up read may predate the change: it is not remembered.
    assert service.cached_account(token) is None


def test_looking_a_token_up_never_waits_for_the_write_lock(service: Service) -> None:
    """The token's last use is written in the background: a first request on a busy server
    (writers queued for SQLite's lock) is answered from a read, and the use is recorded once
    the lock is free."""
    import threading

    account, token = service.create_user("busy-writer", "standard")
    locked, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        with service.db.session(write=True):
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        assert locked.wait(5)
        started = time.monotonic()
        assert service.authenticate(token) == account
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        holder.join(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with service.db.session() as session:
            if accounts_repo.list_tokens(session, account.id)[0].last_used is not None:
                break
        time.sleep(0.02)
    else:
        raise AssertionError("the token's last use was never written")
