"""Costs, billing cycles and the fast-time balance (pure rules, then through the database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dreamloom.jobs.accounting import (
    GrantInfo,
    add_months,
    cycle_start_at,
    fast_balance,
    next_reset,
    out_of_fast_time_message,
)
from dreamloom.jobs.balance import (
    fast_balance_for,
    fast_balances_for,
    grant_fast_time,
    relax_usage,
)
from dreamloom.jobs.plans import Costs, PlanBook
from dreamloom.jobs.pricing import Charge, CostAction, price
from dreamloom.store import accounts, ledger
from dreamloom.store.db import Database

COSTS = Costs()
T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)  # a 31st: the hard case for monthly cycles
HOUR = 3600.0


def at(days: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def test_cost_multipliers() -> None:
    def cost(mode: str, draft: bool = False, action: CostAction = CostAction.DEFAULT) -> float:
        return price(Charge(action, 60.0, mode, draft), COSTS)

    assert cost("fast") == 60
    assert cost("turbo") == 120
    assert cost("relax") == 0
    assert cost("fast", draft=True) == 30
    assert cost("turbo", draft=True) == 60
    assert cost("fast", action=CostAction.SPLIT) == 0
    assert cost("fast", action=CostAction.UPSCALE) == 60  # no grid known: what it measured
    doubled = Costs(action_multipliers={"upscale": 2.0, "variation": 0.8})
    assert price(Charge(CostAction.UPSCALE, 60, "fast"), doubled) == 120
    assert price(Charge(CostAction.VARIATION, 60, "fast"), doubled) == 48
    assert price(Charge(CostAction.DEFAULT, -5, "fast"), COSTS) == 0
    # A button priced against its grid: the grid's seconds times the ratio, then multipliers.
    assert price(Charge(CostAction.UPSCALE, 0.3, "turbo", grid_seconds=1.0), COSTS) == 4.0


def test_monthly_cycles_are_anniversaries_of_the_anchor() -> None:
    assert add_months(T0, 1) == datetime(2025, 2, 28, 12, tzinfo=UTC)
    assert add_months(T0, 2) == datetime(2025, 3, 31, 12, tzinfo=UTC)  # back to the 31st
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1).day == 29  # leap year
    assert add_months(T0, -2) == datetime(2024, 11, 30, 12, tzinfo=UTC)
    assert cycle_start_at(T0, T0) == T0
    assert cycle_start_at(T0, at(days=28) - timedelta(seconds=1)) == T0
    assert cycle_start_at(T0, datetime(2025, 2, 28, 12, tzinfo=UTC)) == add_months(T0, 1)
    assert cycle_start_at(T0, datetime(2025, 3, 30, tzinfo=UTC)) == add_months(T0, 1)
    assert cycle_start_at(T0, datetime(2025, 3, 31, 12, tzinfo=UTC)) == add_months(T0, 2)
    assert cycle_start_at(T0, datetime(2024, 12, 31, 11, tzinfo=UTC)) == add_months(T0, -2)
    assert next_reset(T0, at(days=3)) == add_months(T0, 1)


def balance(
    charges: list[tuple[datetime, float]],
    now: datetime,
    grants: list[GrantInfo] | None = None,
    allowance: float = 2 * HOUR,
) -> tuple[float, float, list[float]]:
    result = fast_balance(
        monthly_allowance=allowance, anchor=T0, grants=grants or [], charges=charges, now=now
    )
    return result.monthly_remaining, result.remaining, [g.remaining for g in result.grants]


def grant(gid: int, kind: str, seconds: float, granted: datetime) -> GrantInfo:
    days = 60 if kind == "purchased" else 30
    return GrantInfo(gid, kind, seconds, granted, granted + timedelta(days=days))


def test_usage_spends_the_monthly_allowance_which_resets_without_rollover() -> None:
    charges = [(at(days=1), 1800.0), (at(days=2), 1800.0)]
    assert balance(charges, at(days=3)) == (HOUR, HOUR, [])
    # Next cycle: full allowance again, the unused hour does not roll over.
    assert balance(charges, at(days=29)) == (2 * HOUR, 2 * HOUR, [])


def test_overspending_is_forgiven_never_negative() -> None:
    assert balance([(at(days=1), 3 * HOUR)], at(days=2)) == (0.0, 0.0, [])


def test_grants_are_spent_after_the_allowance_earliest_expiry_first() -> None:
    purchased = grant(1, "purchased", HOUR, at(days=1))  # expires day 61
    bonus = grant(2, "bonus", HOUR, at(days=2))  # expires day 32: spent first
    charges = [(at(days=3), 2 * HOUR + 1800.0)]  # allowance gone, 30 min from grants
    monthly, total, grants = balance(charges, at(days=4), [purchased, bonus])
    assert monthly == 0
    assert grants == [1800.0, HOUR]  # in spending order: bonus, then purchased
    assert total == 1800.0 + HOUR


def test_grants_expire_and_purchased_time_rolls_over_until_then() -> None:
    purchased = grant(1, "purchased", HOUR, at(days=1))
    bonus = grant(2, "bonus", HOUR, at(days=1))
    # Next cycle (day 29): allowance renewed, both grants still alive.
    assert balance([], at(days=29), [purchased, bonus])[1] == 4 * HOUR
    # Day 40: the bonus expired (30 days), purchased rolls over.
    assert balance([], at(days=40), [purchased, bonus])[2] == [HOUR]
    # Day 70: everything granted is gone.
    assert balance([], at(days=70), [purchased, bonus]) == (2 * HOUR, 2 * HOUR, [])


def test_a_grant_is_used_by_charges_of_earlier_cycles() -> None:
    purchased = grant(1, "purchased", 2 * HOUR, at(days=5))
    charges = [(at(days=10), 3 * HOUR)]  # 1 h over the first cycle's allowance -> the grant
    monthly, total, grants = balance(charges, at(days=35), [purchased])
    assert monthly == 2 * HOUR and grants == [HOUR] and total == 3 * HOUR


def test_a_charge_before_a_grant_does_not_touch_it() -> None:
    late_grant = grant(1, "bonus", HOUR, at(days=10))
    monthly, _total, grants = balance([(at(days=5), 3 * HOUR)], at(days=11), [late_grant])
    assert (monthly, grants) == (0, [HOUR])


def test_out_of_time_message_suggests_relax_only_where_allowed() -> None:
    book = PlanBook()
    assert "/relax" in out_of_fast_time_message(book.plans["standard"])
    assert "/relax" not in out_of_fast_time_message(book.plans["basic"])


# -- through the database ----------------------------------------------------------------------


def test_balance_from_the_ledger(db: Database) -> None:
    book = PlanBook.from_overrides({"plans": {"basic": {"monthly_fast_minutes": 60}}})
    with db.session() as session:
        account = accounts.create_account(session, "ada", "basic", now=T0)
        grant_fast_time(session, account.id, "bonus", HOUR, book, now=at(days=1))
        grant_fast_time(session, account.id, "purchased", HOUR, book, now=at(days=1))
        ledger.record_usage(session, account.id, None, "fast", 80 * 60, 80 * 60, now=at(days=2))
        ledger.record_usage(session, account.id, None, "relax", 500, 0, now=at(days=2))
    with db.session() as session:
        account = accounts.require_account(session, account.id)
        now = at(days=3)
        result = fast_balance_for(session, account, book, now)
        assert result.monthly_remaining == 0
        assert [(g.kind, g.remaining) for g in result.grants] == [
            ("bonus", 40 * 60),
            ("purchased", HOUR),
        ]
        assert result.remaining == 100 * 60
        assert result.next_reset == add_months(T0, 1)
        # After the bonus expired and the cycle renewed: allowance + purchased.
        later = fast_balance_for(session, account, book, at(days=45))
        assert later.remaining == 60 * 60 + HOUR
        assert relax_usage(session, [account], book, now) == {account.id: 500.0}
        assert relax_usage(session, [account], book, at(days=30)) == {account.id: 0.0}


def test_balance_reaches_back_for_charges_against_an_old_grant(db: Database) -> None:
    book = PlanBook.from_overrides({"plans": {"basic": {"monthly_fast_minutes": 60}}})
    with db.session() as session:
        account = accounts.create_account(session, "ada", "basic", now=T0)
        grant_fast_time(session, account.id, "purchased", 2 * HOUR, book, now=at(days=1))
        # Two hours in the first cycle: one from the allowance, one from the grant.
        ledger.record_usage(session, account.id, None, "fast", 2 * HOUR, 2 * HOUR, now=at(days=2))
    with db.session() as session:
        account = accounts.require_account(session, account.id)
        result = fast_balance_for(session, account, book, at(days=40))
        assert result.monthly_remaining == HOUR
        assert [g.remaining for g in result.grants] == [HOUR]


@pytest.mark.parametrize("days", [3, 20, 40, 45])
def test_batched_balances_equal_the_single_ones(db: Database, days: float) -> None:
    """Admission reads many accounts' balances at once: the same figures as one by one, for
    accounts without grants (summed in SQL), with grants, with a grant older than the cycle,
    with charges in earlier cycles and later than now, and with no charges at all."""
    book = PlanBook.from_overrides({"plans": {"basic": {"monthly_fast_minutes": 60}}})
    with db.session() as session:
        plain = accounts.create_account(session, "plain", "basic", now=T0)
        late = accounts.create_account(session, "late", "basic", now=at(days=10))
        granted = accounts.create_account(session, "granted", "basic", now=T0)
        idle = accounts.create_account(session, "idle", "basic", now=at(days=5))
        grant_fast_time(session, granted.id, "purchased", 2 * HOUR, book, now=at(days=1))
        for account, when, seconds in [
            (plain, at(days=1), 20 * 60),
            (plain, at(days=2), 50 * 60),  # over the allowance: forgiven, never negative
            (plain, at(days=35), 10 * 60),  # next cycle
            (late, at(days=11), 15 * 60),
            (late, at(days=39), 5 * 60),  # late's cycle starts on day 10, then day ~40
            (granted, at(days=2), 2 * HOUR),
            (granted, at(days=41), 10 * 60),
        ]:
            ledger.record_usage(session, account.id, None, "fast", seconds, seconds, now=when)
    now = at(days=days)
    with db.session() as session:
        rows = [accounts.require_account(session, a.id) for a in (plain, late, granted, idle)]
        single = {a.id: fast_balance_for(session, a, book, now).remaining for a in rows}
        batched = {a: b.remaining for a, b in fast_balances_for(session, rows, book, now).items()}
    assert batched == pytest.approx(single)
    assert fast_balances_for(session, [], book, now) == {}


def test_the_balance_cache_serves_until_it_expires_charges_or_forgets(db: Database) -> None:
    from dreamloom.jobs.balance import FastBalanceCache

    book = PlanBook.from_overrides({"plans": {"basic": {"monthly_fast_minutes": 60}}})
    with db.session() as session:
        account = accounts.create_account(session, "cached", "basic", now=T0)
    cache = FastBalanceCache(book, ttl=60.0)
    with db.session() as session:
        row = accounts.require_account(session, account.id)
        assert cache.remaining(session, [row], at(days=1)) == {account.id: HOUR}
        ledger.record_usage(session, account.id, None, "fast", 600, 600, now=at(days=1))
        session.flush()
        # Still the cached figure: the dispatcher drops an account when it charges it.
        assert cache.remaining(session, [row], at(days=1)) == {account.id: HOUR}
        cache.forget(account.id)
        assert cache.remaining(session, [row], at(days=1)) == {account.id: HOUR - 600}
        # The dispatcher's own charges come off the cached figure as the ledger takes them,
        # what is beyond the time left being forgiven.
        cache.charge(account.id, 1200)
        assert cache.remaining(session, [row], at(days=1)) == {account.id: HOUR - 1800}
        cache.charge(account.id, 10 * HOUR)
        assert cache.remaining(session, [row], at(days=1)) == {account.id: 0.0}
        cache.forget(account.id)
        expired = FastBalanceCache(book, ttl=0.0)
        assert expired.remaining(session, [row], at(days=1)) == {account.id: HOUR - 600}
        ledger.record_usage(session, account.id, None, "fast", 600, 600, now=at(days=1))
        session.flush()
        assert expired.remaining(session, [row], at(days=1)) == {account.id: HOUR - 1200}
