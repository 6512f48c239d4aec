"""An account's own figures: plan, fast time left and when it renews, usage by mode and by day,
and its API tokens (listed, made, revoked) — the web app's Account page and the native API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dreamloom.jobs.balance import fast_balance_for
from dreamloom.service.accounts import Accounts
from dreamloom.service.errors import ServiceError
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import ledger

USAGE_DAYS_MAX = 366
TOKEN_NOT_FOUND = "No such token"


@dataclass(frozen=True)
class DayUsage:
    day: date
    jobs: int
    gpu_seconds: float


@dataclass(frozen=True)
class UsageReport:
    plan: str
    fast_seconds_left: float
    fast_seconds_total: float  # this cycle's allowance and the unexpired grants
    renews: datetime
    lifetime_seconds: dict[str, float]  # GPU seconds by effective speed mode
    days: tuple[DayUsage, ...]  # the last N days, oldest first, every day present


@dataclass(frozen=True)
class TokenView:
    id: int
    prefix: str
    created: datetime
    last_used: datetime | None
    revoked: bool


class UsageAndTokens:
    def __init__(self, runtime: Runtime, accounts: Accounts) -> None:
        self.db = runtime.db
        self.plans = runtime.plans
        self._now = runtime.now
        self._accounts = accounts

    def usage(self, account: AccountView, days: int = 30) -> UsageReport:
        days = max(1, min(USAGE_DAYS_MAX, days))
        now = self._now()
        first = (now - timedelta(days=days - 1)).date()
        with self.db.session() as session:
            row = accounts_repo.require_account(session, account.id)
            balance = fast_balance_for(session, row, self.plans, now)
            modes = ledger.usage_by_mode(session, account.id)
            since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
            entries = ledger.usage_since(session, account.id, since)
        totals: dict[date, tuple[int, float]] = {}
        for created, gpu in entries:
            jobs, seconds = totals.get(created.date(), (0, 0.0))
            totals[created.date()] = (jobs + 1, seconds + gpu)
        series = tuple(
            DayUsage(day, *totals.get(day, (0, 0.0)))
            for day in (first + timedelta(days=i) for i in range(days))
        )
        return UsageReport(
            plan=account.plan,
            fast_seconds_left=balance.remaining,
            fast_seconds_total=balance.monthly_allowance + sum(g.seconds for g in balance.grants),
            renews=balance.next_reset,
            lifetime_seconds={u.mode: u.gpu_seconds for u in modes},
            days=series,
        )

    def tokens(self, account: AccountView) -> list[TokenView]:
        with self.db.session() as session:
            return [
                TokenView(t.id, t.prefix, t.created, t.last_used, t.revoked)
                for t in accounts_repo.list_tokens(session, account.id)
            ]

    def new_token(self, account: AccountView) -> str:
        """A new API token; its plaintext is returned once and kept nowhere."""
        with self.db.session(write=True) as session:
            return accounts_repo.issue_token(session, account.id).plaintext

    def revoke_token(self, account: AccountView, token_id: int) -> None:
        with self.db.session(write=True) as session:
            digest = accounts_repo.revoke_token(session, account.id, token_id)
        if digest is None:
            raise ServiceError(TOKEN_NOT_FOUND, 404)
        self._accounts.drop_cached_token(digest)  # refused here at once, elsewhere soon
