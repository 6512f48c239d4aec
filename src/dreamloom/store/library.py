"""The account's library of finished images: listing with filters, likes, hiding, publishing,
deleting; and the public feed (Explore).

Listings page backwards by creation time (``before``), newest first. What SQL can filter
(owner, text, likes, hidden, visibility, dates, upscales) it filters; the aspect and the model
version live in the stored prompt and pictures, and are filtered by the caller's predicate
while reading on, in pages, until the page is full or ``scan_cap`` rows were read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, delete, exists, func, select, update
from sqlalchemy.orm import Session

from dreamloom.domain import JobStatus, JobType, Visibility
from dreamloom.store.tables import Image, Job, Like

SCAN_PAGE = 200
Keep = Callable[[Job], bool]
# LIKE's wildcards and its escape character, matched literally in a search.
_LIKE_SPECIALS = re.compile(r"[\\%_]")


@dataclass(frozen=True)
class LibraryFilter:
    """What the archive's SQL filters; empty fields filter nothing."""

    account_id: int | None = None  # None: every account's (Explore)
    words: tuple[str, ...] = ()  # each must appear in the prompt (any case)
    liked_by: int | None = None  # only jobs this account likes
    hidden: bool | None = False  # False: not hidden; True: only hidden; None: both
    visibility: Visibility | None = None
    upscaled: bool = False  # only what an upscale button made
    since: datetime | None = None
    until: datetime | None = None


def _filtered(f: LibraryFilter) -> Select[Job]:
    stmt = select(Job).where(Job.status == JobStatus.COMPLETED, Job.job_type == JobType.IMAGE)
    if f.account_id is not None:
        stmt = stmt.where(Job.account_id == f.account_id)
    for word in f.words:
        pattern = "%" + _LIKE_SPECIALS.sub(r"\\\g<0>", word.lower()) + "%"
        stmt = stmt.where(func.lower(Job.prompt_text).like(pattern, escape="\\"))
    if f.liked_by is not None:
        stmt = stmt.where(
            exists().where(and_(Like.job_id == Job.id, Like.account_id == f.liked_by))
        )
    if f.hidden is not None:
        stmt = stmt.where(Job.hidden.is_(f.hidden))
    if f.visibility is not None:
        stmt = stmt.where(Job.visibility == f.visibility)
    if f.upscaled:
        stmt = stmt.where(Job.button.like("Upscale%") | Job.button.like("Redo Upscale%"))
    if f.since is not None:
        stmt = stmt.where(Job.created >= f.since)
    if f.until is not None:
        stmt = stmt.where(Job.created < f.until)
    return stmt


def list_library(
    session: Session,
    f: LibraryFilter,
    *,
    limit: int,
    before: datetime | None = None,
    keep: Keep | None = None,
    scan_cap: int = 5000,
) -> list[Job]:
    """Newest first: up to ``limit`` jobs that pass ``f`` (and ``keep``), created before
    ``before``."""
    found: list[Job] = []
    scanned = 0
    cursor = before
    while len(found) < limit and scanned < scan_cap:
        stmt = _filtered(f).order_by(Job.created.desc(), Job.id.desc())
        if cursor is not None:
            stmt = stmt.where(Job.created < cursor)
        page = list(session.scalars(stmt.limit(SCAN_PAGE if keep else limit - len(found))))
        if not page:
            break
        scanned += len(page)
        cursor = page[-1].created
        found += [job for job in page if keep is None or keep(job)]
        if keep is None:
            break
    return found[:limit]


def most_liked(session: Session, f: LibraryFilter, *, limit: int, offset: int) -> list[Job]:
    counts = select(Like.job_id, func.count().label("n")).group_by(Like.job_id).subquery()
    stmt = (
        _filtered(f)
        .join(counts, counts.c.job_id == Job.id)
        .order_by(counts.c.n.desc(), Job.created.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def like_counts(session: Session, job_ids: Sequence[str]) -> dict[str, int]:
    if not job_ids:
        return {}
    stmt = (
        select(Like.job_id, func.count())
        .where(Like.job_id.in_(list(job_ids)))
        .group_by(Like.job_id)
    )
    return {job_id: int(n) for job_id, n in session.execute(stmt)}


def liked_by(session: Session, account_id: int, job_ids: Sequence[str]) -> set[str]:
    if not job_ids:
        return set()
    stmt = select(Like.job_id).where(Like.account_id == account_id, Like.job_id.in_(list(job_ids)))
    return set(session.scalars(stmt))


def set_like(session: Session, account_id: int, job_id: str, liked: bool, now: datetime) -> None:
    existing = session.get(Like, (account_id, job_id))
    if liked and existing is None:
        session.add(Like(account_id=account_id, job_id=job_id, created=now))
    elif not liked and existing is not None:
        session.delete(existing)


def set_hidden(session: Session, job_ids: Iterable[str], hidden: bool) -> None:
    session.execute(update(Job).where(Job.id.in_(list(job_ids))).values(hidden=hidden))


def set_visibility(session: Session, job_ids: Iterable[str], visibility: Visibility) -> None:
    ids = list(job_ids)
    session.execute(update(Job).where(Job.id.in_(ids)).values(visibility=visibility))
    session.execute(update(Image).where(Image.job_id.in_(ids)).values(visibility=visibility))


def delete_jobs(session: Session, job_ids: Sequence[str]) -> list[str]:
    """Delete the jobs (their image rows, likes and outbox entries go with them; children and
    charges stay, unlinked); returns the image files no other job still shows (a U1 shows its
    grid's picture), for the caller to remove once committed."""
    ids = list(job_ids)
    paths = set(session.scalars(select(Image.path).where(Image.job_id.in_(ids))))
    shared = set(
        session.scalars(
            select(Image.path).where(Image.path.in_(list(paths)), Image.job_id.not_in(ids))
        )
    )
    session.execute(delete(Image).where(Image.job_id.in_(ids)))
    session.execute(delete(Job).where(Job.id.in_(ids)))
    return sorted(paths - shared)
