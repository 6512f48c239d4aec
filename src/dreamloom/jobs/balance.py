"""Fast-time balance and relax usage, read from the database for the accounting rules."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dreamloom.domain import SpeedMode
from dreamloom.jobs.accounting import (
    FastBalance,
    GrantInfo,
    cycle_start_at,
    fast_balance,
    grant_expiry,
)
from dreamloom.jobs.plans import PlanBook
from dreamloom.store import ledger
from dreamloom.store.tables import Account, TimeGrant
from dreamloom.store.types import utcnow
from dreamloom.ttl_cache import TtlCache

# A chain of overlapping grants could in principle reach back forever; a year is plenty.
_MAX_LOOKBACK_CYCLES = 12


def fast_balance_for(
    session: Session, account: Account, book: PlanBook, now: datetime | None = None
) -> FastBalance:
    now = now or utcnow()
    plan = book.get(account.plan)
    start = cycle_start_at(account.cycle_start, now)
    grants: list[TimeGrant] = []
    # Charges before ``start`` matter when a grant still alive at ``start`` was granted
    # earlier; widen the window until no such grant remains (see accounting.simulation_start).
    for _ in range(_MAX_LOOKBACK_CYCLES):
        grants = ledger.grants_expiring_after(session, account.id, start)
        earliest = min(
            (cycle_start_at(account.cycle_start, g.granted_at) for g in grants), default=start
        )
        if earliest >= start:
            break
        start = earliest
    return fast_balance(
        monthly_allowance=plan.monthly_fast_seconds,
        anchor=account.cycle_start,
        grants=[_grant_info(g) for g in grants],
        charges=ledger.fast_charges_since(session, account.id, start),
        now=now,
    )


def fast_balances_for(
    session: Session, accounts: Sequence[Account], book: PlanBook, now: datetime | None = None
) -> dict[int, FastBalance]:
    """``fast_balance_for`` of many accounts (admitting a batch of submissions): two queries
    for all accounts without grants; those with grants replay their charges as usual."""
    now = now or utcnow()
    if not accounts:
        return {}
    starts = {a.id: cycle_start_at(a.cycle_start, now) for a in accounts}
    earliest = min(starts.values())
    grants: dict[int, list[TimeGrant]] = {a.id: [] for a in accounts}
    for grant in ledger.grants_expiring_after_many(session, list(starts), earliest):
        if grant.expires_at > starts[grant.account_id]:
            grants[grant.account_id].append(grant)
    # Without grants only the cycle's total matters (spent monthly time is the capped sum), so
    # one summing query replaces replaying a month of charges.
    plain = {a.id: starts[a.id] for a in accounts if not grants[a.id]}
    totals = ledger.fast_charged_since_each(session, plain, now)
    balances: dict[int, FastBalance] = {}
    for account in accounts:
        start = starts[account.id]
        if account.id in plain:
            charges = [(start, totals.get(account.id, 0.0))]
        elif any(
            cycle_start_at(account.cycle_start, g.granted_at) < start for g in grants[account.id]
        ):
            balances[account.id] = fast_balance_for(session, account, book, now)
            continue
        else:
            charges = ledger.fast_charges_since(session, account.id, start)
        balances[account.id] = fast_balance(
            monthly_allowance=book.get(account.plan).monthly_fast_seconds,
            anchor=account.cycle_start,
            grants=[_grant_info(g) for g in grants[account.id]],
            charges=charges,
            now=now,
        )
    return balances


# A fast-time balance computed for a scheduling pass is reused for this long (every wake-up
# would otherwise recompute it for every account in the queue); the dispatcher's own charges
# drop it at once, so only time granted by another process is seen up to this late.
BALANCE_CACHE_SECONDS = 1.0


class FastBalanceCache:
    """Fast seconds left per account, recomputed at most every ``ttl`` seconds.

    The dispatcher reads every queued account's balance on every scheduling pass, admission on
    every batch; both would otherwise replay the ledger far more often than it changes. A
    balance is at most ``ttl`` old, and the dispatcher takes its own charges off at once, so
    its figure is exact about this server's jobs; a stale figure elsewhere (admission in an
    API process) can let a submission in, never a job run on time the account does not have,
    since the dispatcher checks before it starts a fast job.
    """

    def __init__(self, book: PlanBook, ttl: float = 1.0) -> None:
        self._book = book
        self._entries: TtlCache[int, float] = TtlCache(ttl, max_entries=100_000)
        self._lock = threading.Lock()  # a charge reads and writes an entry

    def remaining(
        self, session: Session, accounts: Sequence[Account], now: datetime
    ) -> dict[int, float]:
        clock = time.monotonic()
        found: dict[int, float] = {}
        stale: list[Account] = []
        with self._lock:
            for account in accounts:
                entry = self._entries.get(account.id, now=clock)
                if entry is not None:
                    found[account.id] = entry.value
                else:
                    stale.append(account)
        fresh = fast_balances_for(session, stale, self._book, now)
        with self._lock:
            for account_id, balance in fresh.items():
                found[account_id] = balance.remaining
                self._entries.put(account_id, balance.remaining, now=clock)
        return found

    def cached(self, account_ids: Iterable[int]) -> dict[int, float]:
        """The balances of those accounts that are cached and fresh (no database)."""
        clock = time.monotonic()
        with self._lock:
            return {
                account_id: entry.value
                for account_id in account_ids
                if (entry := self._entries.get(account_id, now=clock)) is not None
            }

    def charge(self, account_id: int, seconds: float) -> None:
        """Take a charge off a cached balance, as the ledger would: what a job costs beyond
        the time left is forgiven, so it never goes below zero."""
        with self._lock:
            self._entries.update(account_id, lambda left: max(0.0, left - seconds))

    def forget(self, account_id: int) -> None:
        with self._lock:
            self._entries.pop(account_id)


def _grant_info(grant: TimeGrant) -> GrantInfo:
    return GrantInfo(
        id=grant.id,
        kind=grant.kind,
        seconds=grant.seconds,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
    )


def grant_fast_time(
    session: Session,
    account_id: int,
    kind: str,
    seconds: float,
    book: PlanBook,
    *,
    now: datetime | None = None,
    note: str = "",
) -> TimeGrant:
    """Add purchased (60 days) or bonus (30 days) fast time."""
    now = now or utcnow()
    return ledger.add_grant(
        session,
        account_id,
        kind,
        seconds,
        granted_at=now,
        expires_at=grant_expiry(kind, now, book.costs),
        note=note,
    )


def relax_usage(
    session: Session, accounts: Iterable[Account], book: PlanBook, now: datetime | None = None
) -> dict[int, float]:
    """Each account's recent relax GPU seconds: the key of the fair relax queue."""
    now = now or utcnow()
    since: dict[int, datetime] = {}
    for account in accounts:
        start = cycle_start_at(account.cycle_start, now)
        if book.relax_usage_window_hours is not None:
            start = max(start, now - timedelta(hours=book.relax_usage_window_hours))
        since[account.id] = start
    return ledger.gpu_seconds_since(session, since, mode=SpeedMode.RELAX)
