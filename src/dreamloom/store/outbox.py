"""The outbox: job events to deliver, one row per event and target, and the SQL that moves them.

A job's targets (``Target``: a kind, an address, a reply level) are fixed at admission and
kept on the job (``jobs.deliveries``). Every state change of a job with targets calls
``record`` in its own transaction, so an event exists exactly when the change it tells of
was committed: a crash loses neither. The delivery worker (``service.deliveries``) takes the
first pending entry of each (job, target) lane (``due``), so a lane's events go out in the
order they happened, and settles it (``mark_delivered``, ``mark_failed``). Entries of a lane
whose last event was settled are deleted after a while (``prune``).

Kinds other than webhooks (the Discord bot, web push) are meant to use the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from dreamloom.domain import (
    TERMINAL_STATUSES,
    DeliveryKind,
    DeliveryState,
    JobStatus,
    ReplyLevel,
)
from dreamloom.store.tables import OutboxEntry

_TERMINAL: Final = frozenset(TERMINAL_STATUSES)
LEVEL_EVENTS: Final[dict[ReplyLevel, frozenset[str]]] = {
    ReplyLevel.ALL: frozenset(JobStatus),
    ReplyLevel.STANDARD: frozenset({JobStatus.CREATED}) | _TERMINAL,
    ReplyLevel.MINIMAL: _TERMINAL,
}

_OUTBOX = cast(Table, OutboxEntry.__table__)
_C = _OUTBOX.c


@dataclass(frozen=True)
class Target:
    kind: DeliveryKind
    address: str
    level: ReplyLevel = ReplyLevel.ALL

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "address": self.address, "level": str(self.level)}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Target:
        return Target(
            DeliveryKind(str(data["kind"])), str(data["address"]), level_of(data.get("level"))
        )


def level_of(value: object) -> ReplyLevel:
    """A reply level by name; anything else means every event (the reference's default)."""
    for level in ReplyLevel:
        if value == level.value:
            return level
    return ReplyLevel.ALL


def webhook_targets(urls: Iterable[str | None], level: str | None) -> list[dict[str, Any]] | None:
    """A job's ``deliveries`` for these webhook URLs (its own, its channel's): each URL
    once, all at the job's ``replyLevel`` (unknown or absent: every event); None for none."""
    unique = dict.fromkeys(str(url) for url in urls if url)
    if not unique:
        return None
    return [Target(DeliveryKind.WEBHOOK, url, level_of(level)).to_json() for url in unique]


@dataclass(frozen=True)
class Change:
    """A job's state change, as its events tell it (``deliveries``: the job's targets)."""

    job_id: str
    deliveries: Sequence[dict[str, Any]] | None
    status: str
    progress: int = 0
    error: str | None = None
    preview_path: str | None = None


def record(session: Session, changes: Iterable[Change], now: datetime) -> None:
    """Write the entries of these changes (one INSERT; none for jobs without targets)."""
    rows: list[dict[str, Any]] = []
    for change in changes:
        for data in change.deliveries or ():
            target = Target.from_json(data)
            if change.status not in LEVEL_EVENTS[target.level]:
                continue
            rows.append(
                {
                    "event_id": uuid.uuid4().hex,
                    "job_id": change.job_id,
                    "kind": str(target.kind),
                    "address": target.address,
                    "status": change.status,
                    "progress": change.progress,
                    "error": change.error,
                    "preview_path": change.preview_path,
                    "occurred": now,
                    "state": str(DeliveryState.PENDING),
                    "attempts": 0,
                    "next_attempt": now,
                }
            )
    if rows:
        session.execute(insert(_OUTBOX), rows)
        session.info[_WRITTEN] = True


_WRITTEN: Final = "dreamloom_outbox_written"


def wrote_entries(session: Session) -> bool:
    """Whether the transaction just committed in ``session`` wrote outbox entries (asked
    once: the answer is cleared)."""
    return bool(session.info.pop(_WRITTEN, False))


Lane = tuple[str, str, str]  # (job id, kind, address): the unit of ordering


@dataclass(frozen=True)
class Entry:
    """A pending entry, as the worker needs it."""

    id: int
    event_id: str
    job_id: str
    kind: str
    address: str
    status: str
    progress: int
    error: str | None
    preview_path: str | None
    occurred: datetime
    attempts: int

    @property
    def lane(self) -> Lane:
        return (self.job_id, self.kind, self.address)


_ENTRY_COLUMNS = (
    _C.id,
    _C.event_id,
    _C.job_id,
    _C.kind,
    _C.address,
    _C.status,
    _C.progress,
    _C.error,
    _C.preview_path,
    _C.occurred,
    _C.attempts,
)
# The first pending entry of every lane: only it may be sent (its successors wait for it).
_HEADS = (
    select(func.min(_C.id))
    .where(_C.state == str(DeliveryState.PENDING))
    .group_by(_C.job_id, _C.kind, _C.address)
)


def due(session: Session, now: datetime, *, limit: int, busy: Iterable[Lane] = ()) -> list[Entry]:
    """Entries ready to be sent now, the first pending one of each lane, oldest due first;
    lanes in ``busy`` (being sent) are left out."""
    skip = set(busy)
    stmt = (
        select(*_ENTRY_COLUMNS)
        .where(_C.id.in_(_HEADS), _C.next_attempt <= now)
        .order_by(_C.next_attempt, _C.id)
        .limit(limit + len(skip))
    )
    entries = [Entry(*row) for row in session.execute(stmt)]
    return [entry for entry in entries if entry.lane not in skip][:limit]


def next_due(session: Session) -> datetime | None:
    """When the earliest pending entry is due (None: nothing pending)."""
    stmt = select(func.min(_C.next_attempt)).where(_C.state == str(DeliveryState.PENDING))
    found: datetime | None = session.execute(stmt).scalar()
    return found


def position(session: Session, entry: Entry) -> int:
    """The entry's number in its lane, from 1 (the ``X-Dreamloom-Seq`` header). Lanes are
    pruned whole, so the number never changes while an entry may still be sent."""
    stmt = select(func.count()).where(
        _C.job_id == entry.job_id,
        _C.kind == entry.kind,
        _C.address == entry.address,
        _C.id <= entry.id,
    )
    return int(session.execute(stmt).scalar_one())


def mark_delivered(session: Session, entry_id: int, now: datetime) -> None:
    session.execute(
        update(_OUTBOX)
        .where(_C.id == entry_id)
        .values(
            state=str(DeliveryState.DELIVERED),
            attempts=_C.attempts + 1,
            settled=now,
            last_error=None,
        )
    )


def mark_failed(
    session: Session, entry_id: int, now: datetime, error: str, retry_at: datetime | None
) -> None:
    """A failed attempt: tried again at ``retry_at``, or given up on (None)."""
    values: dict[str, Any] = {"attempts": _C.attempts + 1, "last_error": error[:500]}
    if retry_at is None:
        values |= {"state": str(DeliveryState.GIVEN_UP), "settled": now}
    else:
        values["next_attempt"] = retry_at
    session.execute(update(_OUTBOX).where(_C.id == entry_id).values(**values))


def prune(session: Session, settled_before: datetime, *, limit: int = 500) -> int:
    """Delete the lanes whose last event (the job's end) was settled before
    ``settled_before``; returns how many lanes went."""
    finished = (
        select(_C.job_id, _C.kind, _C.address)
        .where(
            _C.state != str(DeliveryState.PENDING),
            _C.status.in_(sorted(_TERMINAL)),
            _C.settled < settled_before,
        )
        .limit(limit)
    )
    lanes = [tuple(row) for row in session.execute(finished)]
    for job_id, kind, address in lanes:
        session.execute(
            delete(_OUTBOX).where(_C.job_id == job_id, _C.kind == kind, _C.address == address)
        )
    return len(lanes)


def entries_of(session: Session, job_id: str) -> list[OutboxEntry]:
    """Every entry of a job, in the order written (tests, diagnostics)."""
    stmt = select(OutboxEntry).where(OutboxEntry.job_id == job_id).order_by(OutboxEntry.id)
    return list(session.scalars(stmt))
