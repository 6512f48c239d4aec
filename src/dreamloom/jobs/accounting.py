"""GPU-time accounting rules: what a run costs, billing cycles, and the fast-time balance.

Pure functions over plain values; ``jobs.balance`` feeds them from the database.

Fast time comes from two sources:
- the plan's monthly allowance, which resets on every monthly anniversary of the account's
  cycle start and does not roll over;
- grants: purchased hours (expire after 60 days) and bonus hours (30 days).
Charges spend the monthly allowance first, then grants, earliest expiry first. A charge larger
than what is left is not carried as debt (the overage is forgiven): the user can never go below
zero, and with nothing left fast submissions are refused instead.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dreamloom.jobs.plans import Costs, Plan


def grant_expiry(kind: str, granted_at: datetime, costs: Costs) -> datetime:
    days = costs.purchased_expiry_days if kind == "purchased" else costs.bonus_expiry_days
    return granted_at + timedelta(days=days)


# -- billing cycles -----------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time ``months`` later; the 31st becomes the month's last day."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def cycle_start_at(anchor: datetime, moment: datetime) -> datetime:
    """Start of the billing cycle containing ``moment`` (cycles are anniversaries of anchor)."""
    months = (moment.year - anchor.year) * 12 + (moment.month - anchor.month)
    start = add_months(anchor, months)
    # Each cycle start is computed from the anchor (never from the previous cycle) so that
    # a 31st anchor returns to the 31st after a short month.
    while start > moment:
        months -= 1
        start = add_months(anchor, months)
    while add_months(anchor, months + 1) <= moment:
        months += 1
        start = add_months(anchor, months)
    return start


def next_reset(anchor: datetime, moment: datetime) -> datetime:
    start = cycle_start_at(anchor, moment)
    months = (start.year - anchor.year) * 12 + (start.month - anchor.month)
    return add_months(anchor, months + 1)


# -- the balance ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantInfo:
    id: int
    kind: str
    seconds: float
    granted_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class GrantBalance:
    id: int
    kind: str
    seconds: float
    remaining: float
    granted_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class FastBalance:
    cycle_start: datetime
    next_reset: datetime
    monthly_allowance: float
    monthly_used: float
    monthly_remaining: float
    grants: tuple[GrantBalance, ...]  # unexpired grants, in spending order

    @property
    def grants_remaining(self) -> float:
        return sum(g.remaining for g in self.grants)

    @property
    def remaining(self) -> float:
        return self.monthly_remaining + self.grants_remaining


def simulation_start(anchor: datetime, grants: Sequence[GrantInfo], now: datetime) -> datetime:
    """How far back charges matter: the current cycle, or the cycle a live grant began in.

    A grant's balance depends on every charge since it was granted, and whether such a charge
    reached the grant depends on that cycle's monthly allowance, so the whole cycle counts.
    """
    start = cycle_start_at(anchor, now)
    for grant in grants:
        if grant.expires_at > now:
            start = min(start, cycle_start_at(anchor, grant.granted_at))
    return start


def fast_balance(
    *,
    monthly_allowance: float,
    anchor: datetime,
    grants: Sequence[GrantInfo],
    charges: Sequence[tuple[datetime, float]],
    now: datetime,
) -> FastBalance:
    """Replay ``charges`` (time, fast seconds) against allowance and grants; balance at now.

    ``charges`` must include every charge since ``simulation_start(...)``; ``grants`` every
    grant unexpired at that time. Later charges and grants are ignored.
    """
    spend_order = sorted(grants, key=lambda g: (g.expires_at, g.granted_at, g.id))
    grant_left = {g.id: g.seconds for g in spend_order}
    used_in_cycle: dict[datetime, float] = {}

    for moment, amount in sorted(charges, key=lambda c: c[0]):
        if moment > now or amount <= 0:
            continue
        cycle = cycle_start_at(anchor, moment)
        used = used_in_cycle.get(cycle, 0.0)
        from_monthly = min(amount, max(0.0, monthly_allowance - used))
        used_in_cycle[cycle] = used + from_monthly
        amount -= from_monthly
        for grant in spend_order:
            if amount <= 0:
                break
            if not (grant.granted_at <= moment < grant.expires_at):
                continue
            take = min(amount, grant_left[grant.id])
            grant_left[grant.id] -= take
            amount -= take
        # Whatever is left over is forgiven (see module docstring).

    cycle = cycle_start_at(anchor, now)
    monthly_used = used_in_cycle.get(cycle, 0.0)
    live = tuple(
        GrantBalance(
            id=g.id,
            kind=g.kind,
            seconds=g.seconds,
            remaining=grant_left[g.id],
            granted_at=g.granted_at,
            expires_at=g.expires_at,
        )
        for g in spend_order
        if g.granted_at <= now < g.expires_at
    )
    return FastBalance(
        cycle_start=cycle,
        next_reset=next_reset(anchor, now),
        monthly_allowance=monthly_allowance,
        monthly_used=monthly_used,
        monthly_remaining=max(0.0, monthly_allowance - monthly_used),
        grants=live,
    )


def out_of_fast_time_message(plan: Plan) -> str:
    if plan.relax_allowed:
        return (
            "You have run out of fast hours. Switch to relax mode with /relax to keep creating "
            "for free, or buy more fast hours."
        )
    return (
        "You have run out of fast hours. Buy more fast hours, or upgrade to a standard plan "
        "or higher to use relax mode."
    )
