"""The usage ledger (what each run measured and cost) and fast-time grants.

Only recording and querying lives here; the rules (multipliers, cycles, spending order) are in
``dreamloom.jobs.accounting``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from dreamloom.store.tables import TimeGrant, UsageLedger
from dreamloom.store.types import utcnow

_LEDGER = cast(Table, UsageLedger.__table__)


@dataclass(frozen=True)
class ModeUsage:
    mode: str
    jobs: int
    gpu_seconds: float
    charged_seconds: float


def record_usage(
    session: Session,
    account_id: int,
    job_id: str | None,
    mode: str,
    gpu_seconds: float,
    charged_seconds: float,
    *,
    now: datetime | None = None,
) -> UsageLedger:
    row = UsageLedger(
        account_id=account_id,
        job_id=job_id,
        mode=mode,
        gpu_seconds=gpu_seconds,
        charged_seconds=charged_seconds,
        created=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Usage:
    """One run's line of the ledger (``record_usage``'s arguments)."""

    account_id: int
    job_id: str | None
    mode: str
    gpu_seconds: float
    charged_seconds: float


def record_usages(session: Session, usages: Sequence[Usage], now: datetime) -> None:
    """``record_usage`` of many runs in one statement, without ORM objects."""
    if usages:
        session.execute(insert(_LEDGER), [{**vars(usage), "created": now} for usage in usages])


def fast_charges_since(
    session: Session, account_id: int, since: datetime
) -> list[tuple[datetime, float]]:
    """(time, charged fast seconds) of every charge since ``since``, oldest first."""
    stmt = (
        select(UsageLedger.created, UsageLedger.charged_seconds)
        .where(
            UsageLedger.account_id == account_id,
            UsageLedger.created >= since,
            UsageLedger.charged_seconds > 0,
        )
        .order_by(UsageLedger.created, UsageLedger.id)
    )
    return [(created, float(charged)) for created, charged in session.execute(stmt)]


def _since_each(since_by_account: dict[int, datetime]) -> ColumnElement[bool]:
    """Ledger rows of each account from that account's own start time on."""
    return or_(
        *(
            and_(UsageLedger.account_id == account_id, UsageLedger.created >= since)
            for account_id, since in since_by_account.items()
        )
    )


def fast_charged_since_each(
    session: Session, since_by_account: dict[int, datetime], until: datetime
) -> dict[int, float]:
    """Total charged fast seconds per account since each account's own start (one query)."""
    if not since_by_account:
        return {}
    stmt = (
        select(UsageLedger.account_id, func.sum(UsageLedger.charged_seconds))
        .where(
            _since_each(since_by_account),
            UsageLedger.created <= until,
            UsageLedger.charged_seconds > 0,
        )
        .group_by(UsageLedger.account_id)
    )
    return {account_id: float(total or 0.0) for account_id, total in session.execute(stmt)}


def gpu_seconds_since(
    session: Session, since_by_account: dict[int, datetime], *, mode: str | None = None
) -> dict[int, float]:
    """Measured GPU seconds per account since each account's own start time (one query)."""
    if not since_by_account:
        return {}
    stmt = (
        select(UsageLedger.account_id, func.sum(UsageLedger.gpu_seconds))
        .where(_since_each(since_by_account))
        .group_by(UsageLedger.account_id)
    )
    if mode is not None:
        stmt = stmt.where(UsageLedger.mode == mode)
    usage = dict.fromkeys(since_by_account, 0.0)
    for account_id, total in session.execute(stmt):
        usage[account_id] = float(total or 0.0)
    return usage


def usage_by_mode(
    session: Session, account_id: int, *, since: datetime | None = None
) -> list[ModeUsage]:
    """Totals per effective mode (for a /info-style usage page)."""
    stmt = (
        select(
            UsageLedger.mode,
            func.count(),
            func.coalesce(func.sum(UsageLedger.gpu_seconds), 0.0),
            func.coalesce(func.sum(UsageLedger.charged_seconds), 0.0),
        )
        .where(UsageLedger.account_id == account_id)
        .group_by(UsageLedger.mode)
        .order_by(UsageLedger.mode)
    )
    if since is not None:
        stmt = stmt.where(UsageLedger.created >= since)
    return [
        ModeUsage(mode=mode, jobs=int(n), gpu_seconds=float(gpu), charged_seconds=float(charged))
        for mode, n, gpu, charged in session.execute(stmt)
    ]


def usage_since(session: Session, account_id: int, since: datetime) -> list[tuple[datetime, float]]:
    """(when, GPU seconds) of each charge since ``since`` (grouped by day by the caller: date
    functions differ between SQLite and PostgreSQL)."""
    stmt = select(UsageLedger.created, UsageLedger.gpu_seconds).where(
        UsageLedger.account_id == account_id, UsageLedger.created >= since
    )
    return [(created, float(gpu)) for created, gpu in session.execute(stmt)]


def ledger_entries(
    session: Session, account_id: int, *, limit: int = 100, before: datetime | None = None
) -> list[UsageLedger]:
    stmt = (
        select(UsageLedger)
        .where(UsageLedger.account_id == account_id)
        .order_by(UsageLedger.created.desc(), UsageLedger.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(UsageLedger.created < before)
    return list(session.scalars(stmt))


def add_grant(
    session: Session,
    account_id: int,
    kind: str,
    seconds: float,
    *,
    granted_at: datetime,
    expires_at: datetime,
    note: str = "",
) -> TimeGrant:
    if kind not in ("purchased", "bonus"):
        raise ValueError(f"grant kind must be 'purchased' or 'bonus', got {kind!r}")
    if seconds <= 0:
        raise ValueError("a grant must add a positive amount of time")
    row = TimeGrant(
        account_id=account_id,
        kind=kind,
        seconds=seconds,
        granted_at=granted_at,
        expires_at=expires_at,
        note=note,
    )
    session.add(row)
    session.flush()
    return row


def grants_expiring_after(session: Session, account_id: int, after: datetime) -> list[TimeGrant]:
    """Grants still valid at some point after ``after`` (expired earlier ones are irrelevant)."""
    stmt = (
        select(TimeGrant)
        .where(TimeGrant.account_id == account_id, TimeGrant.expires_at > after)
        .order_by(TimeGrant.granted_at, TimeGrant.id)
    )
    return list(session.scalars(stmt))


# Built once: admission asks it for every batch.
_GRANTS_EXPIRING = (
    select(TimeGrant)
    .where(
        TimeGrant.account_id.in_(bindparam("accounts", expanding=True)),
        TimeGrant.expires_at > bindparam("after"),
    )
    .order_by(TimeGrant.granted_at, TimeGrant.id)
)


def grants_expiring_after_many(
    session: Session, account_ids: Sequence[int], after: datetime
) -> list[TimeGrant]:
    """``grants_expiring_after`` of several accounts in one query."""
    return list(session.scalars(_GRANTS_EXPIRING, {"accounts": list(account_ids), "after": after}))


def delete_grants(session: Session, grant_ids: Iterable[int]) -> None:
    for grant_id in grant_ids:
        row = session.get(TimeGrant, grant_id)
        if row is not None:
            session.delete(row)
