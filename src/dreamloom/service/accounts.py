"""Accounts and API tokens: create users, authenticate bearer tokens, plan and lock checks."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from dreamloom.jobs.balance import fast_balance_for, grant_fast_time
from dreamloom.service.errors import MODERATION_LOCKED, NO_SUBSCRIPTION, ServiceError
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView, UserRow
from dreamloom.store import accounts as accounts_repo
from dreamloom.store.tables import Account
from dreamloom.store.types import utcnow
from dreamloom.ttl_cache import TtlCache

# Plans that mean "no subscription": the account exists but may not use GPU time (402).
NO_PLAN = ("none", "")
log = logging.getLogger(__name__)

# A token's account is remembered this long: a submission then costs no token look-up (and no
# write of the token's last use). Changes made through this process are seen at once.
AUTH_CACHE_SECONDS = 5.0
# After that, up to this age, the remembered account still answers while a background thread
# looks the token up again: renewals never hold a request, and clients that started together
# do not all go to the database together every few seconds (a p99 stall). Past it (a token
# idle that long), the request looks the token up itself. A token revoked by another process
# is refused within this time.
AUTH_STALE_SECONDS = 2 * AUTH_CACHE_SECONDS


class Accounts:
    """Users and tokens, and the checks every other use-case makes of an account."""

    def __init__(self, runtime: Runtime) -> None:
        self.db = runtime.db
        self.plans = runtime.plans
        self._now = runtime.now
        self._fast_balances = runtime.fast_balances
        # token digest -> account; fresh for AUTH_CACHE_SECONDS, answering up to
        # AUTH_STALE_SECONDS while renewed (``cached_account``)
        self._auth_cache: TtlCache[str, AccountView] = TtlCache(
            AUTH_CACHE_SECONDS, max_entries=10_000
        )
        self._auth_lock = threading.Lock()
        self._auth_renewing: set[str] = set()
        self._auth_generation = 0  # bumped by every forget: a look-up begun before it is stale
        self._auth_renewals = ThreadPoolExecutor(1, thread_name_prefix="dreamloom-auth")

    def stop(self) -> None:
        self._auth_renewals.shutdown(wait=True, cancel_futures=True)

    def create_user(self, name: str, plan: str) -> tuple[AccountView, str]:
        if plan not in self.plans.plans and plan not in NO_PLAN:
            known = ", ".join(sorted(self.plans.plans))
            raise ServiceError(f"Unknown plan {plan!r}; plans: {known}")
        with self.db.session(write=True) as session:
            try:
                account = accounts_repo.create_account(session, name, plan)
            except accounts_repo.AccountExistsError:
                raise ServiceError(f"An account named {name!r} already exists", 409) from None
            token = accounts_repo.issue_token(session, account.id)
            return account_view(account), token.plaintext

    def issue_token(self, name: str) -> str:
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                raise ServiceError(f"No account named {name!r}", 404)
            return accounts_repo.issue_token(session, account.id).plaintext

    def ensure_user(self, name: str, plan: str | None = None) -> AccountView:
        """The named account, created on the default plan when missing (the CLI's own user)."""
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                account = accounts_repo.create_account(
                    session, name, plan or self.plans.default_plan
                )
            return account_view(account)

    def set_plan(self, name: str, plan: str) -> AccountView:
        """Change an account's plan (``none``: no subscription)."""
        if plan not in self.plans.plans and plan not in NO_PLAN:
            raise ServiceError(f"Unknown plan {plan!r}")
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                raise ServiceError(f"No account named {name!r}", 404)
            account = accounts_repo.set_plan(session, account.id, plan)
            view = account_view(account)
        self.forget(view.id)
        return view

    def lift_timeout(self, name: str) -> AccountView:
        """An operator ends a moderation timeout early."""
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                raise ServiceError(f"No account named {name!r}", 404)
            account.timeout_until = None
            view = account_view(account)
        self.forget(view.id)
        return view

    def cached_account(self, token: str) -> AccountView | None:
        """The account of a token authenticated moments ago, without the database; None
        when it must be looked up (``authenticate``)."""
        digest = accounts_repo.hash_token(token)
        now = time.monotonic()
        with self._auth_lock:
            cached = self._auth_cache.get(
                digest, now=now, grace=AUTH_STALE_SECONDS - AUTH_CACHE_SECONDS
            )
            if cached is None:
                return None
            if cached.expires <= now and digest not in self._auth_renewing:
                self._auth_renewing.add(digest)
                try:
                    self._auth_renewals.submit(self._renew, token, digest)
                except RuntimeError:  # shutting down
                    self._auth_renewing.discard(digest)
            return cached.value

    def _renew(self, token: str, digest: str) -> None:
        try:
            self._look_up(token, digest)
        except Exception:
            log.exception("could not look a token up again")
            with self._auth_lock:
                self._auth_cache.pop(digest)
        finally:
            with self._auth_lock:
                self._auth_renewing.discard(digest)

    def authenticate(self, token: str) -> AccountView | None:
        cached_view = self.cached_account(token)
        if cached_view is not None:
            return cached_view
        return self._look_up(token, accounts_repo.hash_token(token))

    def _look_up(self, token: str, digest: str) -> AccountView | None:
        now = time.monotonic()
        generation = self._auth_generation
        # A read; the rare write of the token's last use apart, after it.
        with self.db.session() as session:
            row = accounts_repo.find_token(session, token)
            account = (
                accounts_repo.get_account(session, row.account_id) if row is not None else None
            )
            view = account_view(account) if account is not None else None
            used = utcnow()
            touch = row.id if row is not None and accounts_repo.last_use_stale(row, used) else None
        if touch is not None:
            # In the background: under load a write waits its turn for SQLite's write lock
            # (tens of milliseconds), and a request looking its token up must not.
            with contextlib.suppress(RuntimeError):  # shutting down: this use goes unwritten
                self._auth_renewals.submit(self._note_use, touch, used)
        with self._auth_lock:
            if view is None:
                self._auth_cache.pop(digest)
            elif generation != self._auth_generation:
                pass  # the account changed meanwhile: what was read may be out of date
            else:
                self._auth_cache.put(digest, view, now=now)
        return view

    def _note_use(self, token_id: int, used: datetime) -> None:
        try:
            with self.db.session(write=True) as session:
                accounts_repo.note_use(session, token_id, used)
        except Exception:
            log.exception("could not write a token's last use")

    def account(self, account_id: int) -> AccountView:
        """The account as stored now (settings just changed, plan, timeout)."""
        with self.db.session() as session:
            return account_view(accounts_repo.require_account(session, account_id))

    def forget(self, account_id: int) -> None:
        """Drop what this process remembers of the account (it just changed here)."""
        self._fast_balances.forget(account_id)
        with self._auth_lock:
            self._auth_generation += 1
            self._auth_cache.drop_where(lambda view: view.id == account_id)

    def drop_cached_token(self, digest: str) -> None:
        """A token revoked here is refused here at once (other processes: within their cache
        time)."""
        with self._auth_lock:
            self._auth_generation += 1
            self._auth_cache.pop(digest)

    def list_users(self) -> list[UserRow]:
        with self.db.session() as session:
            return [
                UserRow(a.name, a.plan, fast_balance_for(session, a, self.plans).remaining)
                for a in accounts_repo.list_accounts(session)
            ]

    # -- checks every use-case makes ---------------------------------------------------------

    def require_subscription(self, account: AccountView) -> None:
        if account.plan in NO_PLAN:
            raise ServiceError(NO_SUBSCRIPTION, 402)

    def timeout_of(self, account: AccountView, now: datetime | None = None) -> datetime | None:
        """When a moderation timeout of the account ends, if one is in force."""
        until = account.timeout_until
        if until is not None and until > (now or self._now()):
            return until
        return None

    def require_unlocked(self, account: AccountView, channels: int = 1) -> None:
        """Refuse (596) while repeated moderation violations keep the account timed out."""
        until = self.timeout_of(account)
        if until is not None:
            raise ServiceError(
                f"All configured channels ({max(1, channels)}) have errors (moderation "
                f"timeout until {until:%Y-%m-%dT%H:%M:%SZ} after repeated moderation "
                "violations). Please resolve channel issues before making new requests.",
                MODERATION_LOCKED,
            )

    def update_settings(self, account: AccountView, changes: dict[str, Any]) -> AccountView:
        with self.db.session(write=True) as session:
            accounts_repo.update_settings(session, account.id, changes)
            view = account_view(accounts_repo.require_account(session, account.id))
        self.forget(account.id)
        return view

    def grant_time(self, name: str, kind: str, hours: float) -> float:
        """Add purchased (expires in 60 days) or bonus (30 days) fast time; returns the
        account's fast seconds left afterwards."""
        if kind not in ("purchased", "bonus"):
            raise ServiceError("Fast time is either purchased or bonus")
        if hours <= 0:
            raise ServiceError("Granted hours must be positive")
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                raise ServiceError(f"No account named {name!r}", 404)
            grant_fast_time(session, account.id, kind, hours * 3600, self.plans)
            session.flush()
            self.forget(account.id)
            return fast_balance_for(session, account, self.plans).remaining


def account_view(account: Account) -> AccountView:
    return AccountView(
        id=account.id,
        name=account.name,
        plan=account.plan,
        settings=dict(account.settings),
        timeout_until=account.timeout_until,
        strikes=account.moderation_strikes,
    )
