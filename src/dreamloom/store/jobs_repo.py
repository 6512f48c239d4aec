"""Jobs and their images: creation, queries and the status transitions.

Status transitions are conditional updates ("... WHERE status IN (...)") so that two actors (the
dispatcher finishing a job, a user cancelling it) can race without either overwriting the other:
the loser sees ``False`` and re-reads.

Every transition of a job with delivery targets (``deliveries``) writes the events it causes
into the outbox (``store.outbox``) in the caller's transaction: read back with the update
itself (``RETURNING``), so a job without targets costs no extra statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from dreamloom.domain import ACTIVE_STATUSES, RUNNING_STATUSES, JobStatus, Verb
from dreamloom.store import outbox
from dreamloom.store.tables import IMAGE_KEY_MAX, Image, Job, new_image_key
from dreamloom.store.types import utcnow

# Longest job id the table holds (``jobs.id``); a longer one names no job.
JOB_ID_MAX = 64


@dataclass(frozen=True)
class JobSpec:
    """What the service decided about one job of a submission."""

    verb: str
    mode: str  # requested speed mode: fast | relax | turbo
    prompt_text: str = ""
    prompt: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = None
    seed: int | None = None
    job_type: str = "image"
    parent_job_id: str | None = None
    button: str | None = None
    draft: bool = False
    visibility: str = "public"
    priority: int = 0
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = field(default=None)
    channel: str | None = None
    deliveries: list[dict[str, Any]] | None = None  # store.outbox.Target as JSON
    grid_seconds: float | None = None  # a button's grid's measured seconds (jobs.pricing)


@dataclass(frozen=True)
class ImageSpec:
    index: int
    path: str
    width: int
    height: int
    seed: int | None = None
    parent_image_id: int | None = None
    visibility: str = "public"


def shared_image(image: Image, index: int) -> ImageSpec:
    """A row of another job for an existing image file: the file is shared, not copied."""
    return ImageSpec(
        index=index,
        path=image.path,
        width=image.width,
        height=image.height,
        seed=image.seed,
        parent_image_id=image.id,
        visibility=image.visibility,
    )


def new_job_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class JobRow:
    """A job's row without an ORM object: building a ``Job`` costs more than the statement
    that writes or reads it, and admission and the dispatcher handle hundreds a second. The
    fields are the table's columns (read like a ``Job``'s attributes)."""

    id: str
    account_id: int
    verb: str
    mode_requested: str
    enqueued_at: datetime
    created: datetime
    updated: datetime
    job_type: str = "image"
    parent_job_id: str | None = None
    button: str | None = None
    status: str = JobStatus.CREATED
    progress: int = 0
    mode_effective: str | None = None
    batch_id: str | None = None
    batch_index: int = 0
    prompt_text: str = ""
    prompt: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = None
    seed: int | None = None
    draft: bool = False
    priority: int = 0
    attempts: int = 0
    error: str | None = None
    started: datetime | None = None
    finished: datetime | None = None
    gpu_seconds: float = 0.0
    cost_seconds: float = 0.0
    visibility: str = "public"
    preview_path: str | None = None
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    channel: str | None = None
    deliveries: list[dict[str, Any]] | None = None
    grid_seconds: float | None = None
    hidden: bool = False


# A job as the service reads it: an ORM object or its row.
JobLike = Job | JobRow
# The table itself: a Core INSERT skips the ORM's per-object bookkeeping.
_JOBS = cast(Table, Job.__table__)
_IMAGES = cast(Table, Image.__table__)


def new_jobs(account_id: int, specs: Sequence[JobSpec], now: datetime) -> list[JobRow]:
    """The rows of one submission's jobs (queued); several jobs share a batch id."""
    if not specs:
        raise ValueError("a submission needs at least one job")
    batch_id = new_job_id() if len(specs) > 1 else None
    return [
        JobRow(
            id=new_job_id(),
            account_id=account_id,
            verb=spec.verb,
            job_type=spec.job_type,
            parent_job_id=spec.parent_job_id,
            button=spec.button,
            mode_requested=spec.mode,
            batch_id=batch_id,
            batch_index=i,
            prompt_text=spec.prompt_text,
            prompt=spec.prompt,
            recipe=spec.recipe,
            seed=spec.seed,
            draft=spec.draft,
            priority=spec.priority,
            enqueued_at=now,
            created=now,
            updated=now,
            visibility=spec.visibility,
            request=spec.request,
            response=spec.response,
            channel=spec.channel,
            deliveries=spec.deliveries,
            grid_seconds=spec.grid_seconds,
        )
        for i, spec in enumerate(specs)
    ]


def insert_jobs(session: Session, jobs: Sequence[JobRow]) -> None:
    """Write many submissions' rows in one statement (and their "created" events)."""
    if jobs:
        session.execute(insert(_JOBS), [dict(job.__dict__) for job in jobs])
        record_changes(session, jobs, JobStatus.CREATED, jobs[0].created)


def create_jobs(
    session: Session,
    account_id: int,
    specs: Sequence[JobSpec],
    *,
    now: datetime | None = None,
) -> list[Job]:
    """Insert the jobs of one submission (queued) as ORM objects of this session."""
    rows = new_jobs(account_id, specs, now or utcnow())
    jobs = [Job(**vars(row)) for row in rows]
    session.add_all(jobs)
    session.flush()
    record_changes(session, rows, JobStatus.CREATED, rows[0].created)
    return jobs


def record_changes(
    session: Session,
    jobs: Sequence[JobLike],
    status: str,
    now: datetime,
    *,
    progress: int = 0,
    error: str | None = None,
) -> None:
    """The outbox entries of jobs that reached ``status`` in this transaction; for the
    callers that set a status themselves (instant jobs), the transitions here call it."""
    changed = [j for j in jobs if j.deliveries]
    if changed:
        outbox.record(
            session,
            [outbox.Change(j.id, j.deliveries, status, progress, error) for j in changed],
            now,
        )


def get_job(session: Session, job_id: str) -> Job | None:
    if len(job_id) > JOB_ID_MAX:  # no such job: spare the database a look
        return None
    return session.get(Job, job_id)


def job_rows(session: Session, job_ids: Sequence[str]) -> dict[str, JobRow]:
    """The jobs of ``job_ids`` that exist, by id, as rows (one query; the dispatcher reads
    every finished job and needs no ORM objects)."""
    if not job_ids:
        return {}
    rows = session.execute(select(_JOBS).where(_JOBS.c.id.in_(job_ids)))
    return {row.id: JobRow(**row._mapping) for row in rows}


def list_jobs(
    session: Session,
    *,
    account_id: int | None = None,
    statuses: Iterable[str] | None = None,
    limit: int = 50,
    before: datetime | None = None,
    job_types: Iterable[str] | None = None,
) -> list[Job]:
    """Newest first; ``before`` pages backwards by creation time."""
    stmt = select(Job).order_by(Job.created.desc(), Job.id.desc()).limit(limit)
    if account_id is not None:
        stmt = stmt.where(Job.account_id == account_id)
    if job_types is not None:
        stmt = stmt.where(Job.job_type.in_(list(job_types)))
    if statuses is not None:
        stmt = stmt.where(Job.status.in_(list(statuses)))
    if before is not None:
        stmt = stmt.where(Job.created < before)
    return list(session.scalars(stmt))


def jobs_with_status(
    session: Session, statuses: Iterable[str], *, limit: int | None = None
) -> list[Job]:
    """Jobs in the given statuses, in queue order (the dispatcher's view); the first
    ``limit`` of them when given."""
    stmt = (
        select(Job)
        .where(Job.status.in_(list(statuses)))
        .order_by(Job.enqueued_at, Job.batch_index, Job.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class QueueEntry:
    """What scheduling needs of a job, without its prompt, recipe or request documents."""

    id: str
    account_id: int
    mode_requested: str
    mode_effective: str | None
    enqueued_at: datetime
    batch_index: int
    priority: int


def queue_entries(
    session: Session, statuses: Iterable[str], *, limit: int | None = None
) -> list[QueueEntry]:
    """``jobs_with_status`` reading only the scheduling columns (the dispatcher looks at
    the head of the queue after every finished job)."""
    stmt = (
        select(
            Job.id,
            Job.account_id,
            Job.mode_requested,
            Job.mode_effective,
            Job.enqueued_at,
            Job.batch_index,
            Job.priority,
        )
        .where(Job.status.in_(list(statuses)))
        .order_by(Job.enqueued_at, Job.batch_index, Job.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [QueueEntry(*row) for row in session.execute(stmt)]


@dataclass(frozen=True)
class ActiveGroup:
    """Active jobs of one account in one lane, of one job type and status."""

    account_id: int
    channel: str | None
    job_type: str
    status: str
    jobs: int
    submissions: int  # a batch's jobs count once


# Built once: admission runs it for every batch, and building the expression costs more
# Python than SQLite takes to answer it.
_ACTIVE_GROUPS = (
    select(
        Job.account_id,
        Job.channel,
        Job.job_type,
        Job.status,
        func.count(),
        func.count(func.distinct(func.coalesce(Job.batch_id, Job.id))),
    )
    .where(
        Job.account_id.in_(bindparam("accounts", expanding=True)),
        Job.status.in_(ACTIVE_STATUSES),
    )
    .group_by(Job.account_id, Job.channel, Job.job_type, Job.status)
)


def active_groups(session: Session, account_ids: Sequence[int]) -> list[ActiveGroup]:
    """Every active job of the accounts, grouped by lane, job type and status (one query):
    both the accounts' loads and their lanes' loads follow from it, since a lane belongs to one
    account and a batch's jobs share their lane and type."""
    rows = session.execute(_ACTIVE_GROUPS, {"accounts": list(account_ids)})
    return [ActiveGroup(*row) for row in rows]


def count_active(session: Session, account_id: int) -> dict[str, int]:
    """Active jobs of an account by status (queued = "created")."""
    counts: dict[str, int] = dict.fromkeys(ACTIVE_STATUSES, 0)
    for group in active_groups(session, [account_id]):
        counts[group.status] += group.jobs
    return counts


def queued_submissions(session: Session, account_id: int) -> int:
    """How many submissions (a batch counts once) of the account wait in the queue."""
    return sum(
        g.submissions for g in active_groups(session, [account_id]) if g.status == JobStatus.CREATED
    )


# -- status transitions -------------------------------------------------------------------


def _transition(
    session: Session,
    job_id: str,
    from_statuses: Sequence[str],
    *,
    event: outbox.Change | None = None,
    **values: Any,
) -> bool:
    """One conditional update; when it applied, ``event`` (its job's targets filled in from
    the row) goes to the outbox."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(list(from_statuses)))
        .values(**values)
        .returning(Job.deliveries)
        .execution_options(synchronize_session="fetch")
    )
    row = result.first()
    if row is None:
        return False
    if event is not None and row.deliveries:
        outbox.record(session, [replace(event, deliveries=row.deliveries)], values["updated"])
    return True


def start_jobs(session: Session, chosen: Sequence[tuple[str, str]], now: datetime) -> list[JobRow]:
    """Queued -> started, counting an attempt, for many jobs, (id, mode) each: one statement
    per mode. Returns the rows of those that were still queued, in the order chosen (the
    others were cancelled meanwhile)."""
    modes: dict[str, list[str]] = {}
    for job_id, mode in chosen:
        modes.setdefault(mode, []).append(job_id)
    started: list[JobRow] = []
    for mode, job_ids in modes.items():
        rows = session.execute(
            update(_JOBS)
            .where(_JOBS.c.id.in_(job_ids), _JOBS.c.status == JobStatus.CREATED)
            .values(
                status=JobStatus.STARTED,
                mode_effective=mode,
                started=now,
                updated=now,
                progress=0,
                attempts=_JOBS.c.attempts + 1,
            )
            .returning(*_JOBS.c)
        )
        started += [JobRow(**row._mapping) for row in rows]
    record_changes(session, started, JobStatus.STARTED, now)
    order = {job_id: i for i, (job_id, _) in enumerate(chosen)}
    return sorted(started, key=lambda row: order[row.id])


def mark_progress(
    session: Session, job_id: str, progress: int, now: datetime, preview_path: str | None = None
) -> bool:
    values: dict[str, Any] = {"status": JobStatus.PROGRESS, "progress": progress, "updated": now}
    if preview_path is not None:
        values["preview_path"] = preview_path
    event = outbox.Change(job_id, None, JobStatus.PROGRESS, progress, preview_path=preview_path)
    return _transition(session, job_id, RUNNING_STATUSES, event=event, **values)


@dataclass(frozen=True)
class Completion:
    """What a finished run adds to its job: measured and charged time, and its images."""

    job_id: str
    gpu_seconds: float
    cost_seconds: float
    images: Sequence[ImageSpec] = ()
    # The job's whole stored response when the run changes it (a text result); None keeps it.
    response: dict[str, Any] | None = None
    # A recipe to store instead of the one that ran (one whose inputs are no longer needed).
    recipe: dict[str, Any] | None = None


def complete_jobs(session: Session, completions: Sequence[Completion], now: datetime) -> set[str]:
    """Running -> completed with the time measured and charged, and ``add_images``, for many
    jobs without ORM objects; returns the ids of those that were still running (a job
    cancelled meanwhile keeps its status and gets no images)."""
    done: set[str] = set()
    events: list[outbox.Change] = []
    for completion in completions:
        result = session.execute(
            update(_JOBS)
            .where(_JOBS.c.id == completion.job_id, _JOBS.c.status.in_(RUNNING_STATUSES))
            .values(
                status=JobStatus.COMPLETED,
                progress=100,
                finished=now,
                updated=now,
                gpu_seconds=completion.gpu_seconds,
                cost_seconds=completion.cost_seconds,
                error=None,
                preview_path=None,  # the file goes with the run (Dispatcher._end_run)
                **({} if completion.response is None else {"response": completion.response}),
                **({} if completion.recipe is None else {"recipe": completion.recipe}),
            )
            .returning(_JOBS.c.deliveries)
        )
        row = result.first()
        if row is not None:
            done.add(completion.job_id)
            if row.deliveries:
                events.append(
                    outbox.Change(completion.job_id, row.deliveries, JobStatus.COMPLETED, 100)
                )
    outbox.record(session, events, now)
    images = [
        _image_row(completion.job_id, spec, now)
        for completion in completions
        if completion.job_id in done
        for spec in completion.images
    ]
    if images:
        session.execute(insert(_IMAGES), images)
    return done


def mark_failed(
    session: Session,
    job_id: str,
    error: str,
    now: datetime,
    *,
    status: str = JobStatus.FAILED,
    from_statuses: Sequence[str] = ACTIVE_STATUSES,
) -> bool:
    """Active -> failed (or moderated) with a reason."""
    return _transition(
        session,
        job_id,
        from_statuses,
        event=outbox.Change(job_id, None, status, error=error),
        status=status,
        error=error,
        finished=now,
        updated=now,
        preview_path=None,
    )


def requeue(session: Session, job_id: str, now: datetime, *, note: str | None = None) -> bool:
    """Running -> queued again, keeping its place (enqueued_at) in the queue; its targets
    hear "created" again."""
    return _transition(
        session,
        job_id,
        RUNNING_STATUSES,
        event=outbox.Change(job_id, None, JobStatus.CREATED),
        status=JobStatus.CREATED,
        progress=0,
        started=None,
        mode_effective=None,
        preview_path=None,
        updated=now,
        error=note,
    )


def add_cost(session: Session, job_id: str, gpu_seconds: float, cost_seconds: float) -> None:
    """Add measured/charged time to a job (e.g. a cancelled run reporting in late)."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            gpu_seconds=Job.gpu_seconds + gpu_seconds,
            cost_seconds=Job.cost_seconds + cost_seconds,
        )
        .execution_options(synchronize_session="fetch")
    )


# -- images -------------------------------------------------------------------------------


def add_images(
    session: Session, job_id: str, images: Sequence[ImageSpec], *, now: datetime | None = None
) -> list[Image]:
    when = now or utcnow()
    rows = [Image(**_image_row(job_id, spec, when)) for spec in images]
    session.add_all(rows)
    session.flush()
    return rows


def _image_row(job_id: str, spec: ImageSpec, now: datetime) -> dict[str, Any]:
    """The stored columns of one image of a job (``add_images``, ``complete_jobs``)."""
    return {
        "job_id": job_id,
        "key": new_image_key(),
        "index": spec.index,
        "path": spec.path,
        "width": spec.width,
        "height": spec.height,
        "seed": spec.seed,
        "parent_image_id": spec.parent_image_id,
        "visibility": spec.visibility,
        "created": now,
    }


def images_of_job(session: Session, job_id: str) -> list[Image]:
    stmt = select(Image).where(Image.job_id == job_id).order_by(Image.index)
    return list(session.scalars(stmt))


def get_image(session: Session, image_id: int) -> Image | None:
    return session.get(Image, image_id)


def image_by_key(session: Session, key: str) -> Image | None:
    """The image a link names; None for keys that cannot exist (too long)."""
    if not key or len(key) > IMAGE_KEY_MAX:
        return None
    return session.scalars(select(Image).where(Image.key == key)).first()


# -- the service's reads about a job's family and an account's jobs -----------------------------


def children_of(session: Session, job_id: str) -> list[tuple[str, str | None]]:
    """(id, button) of the jobs made from ``job_id``, oldest first. A /show of the job is no
    child of it (it points at the job it shows, and carries its button)."""
    stmt = (
        select(Job.id, Job.button)
        .where(Job.parent_job_id == job_id, Job.verb != Verb.SHOW)
        .order_by(Job.created, Job.id)
    )
    return [(child_id, button) for child_id, button in session.execute(stmt)]


def first_child(session: Session, parent_id: str, verb: str, button: str | None) -> Job | None:
    """The oldest job of ``verb`` (and ``button``, when given) made from ``parent_id`` that has
    not failed: what an execute-once button pressed again answers with."""
    stmt = (
        select(Job)
        .where(Job.parent_job_id == parent_id, Job.verb == verb, Job.status != JobStatus.FAILED)
        .order_by(Job.created)
    )
    if button is not None:
        stmt = stmt.where(Job.button == button)
    return session.scalars(stmt).first()


def active_jobs_of(session: Session, account_id: int) -> list[Job]:
    """The account's queued and running jobs, oldest first."""
    stmt = (
        select(Job)
        .where(Job.account_id == account_id, Job.status.in_(ACTIVE_STATUSES))
        .order_by(Job.created, Job.id)
    )
    return list(session.scalars(stmt))


def moderated_since(session: Session, account_id: int, since: datetime) -> int:
    """How many of the account's jobs created after ``since`` ended moderated (its strikes)."""
    stmt = (
        select(func.count())
        .select_from(Job)
        .where(Job.account_id == account_id, Job.status == JobStatus.MODERATED, Job.created > since)
    )
    return int(session.scalar(stmt) or 0)
