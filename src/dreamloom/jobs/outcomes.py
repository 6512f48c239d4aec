"""Recording what comes back from a run: progress, results, failures and late charges.

The dispatcher's thread is the only caller, so no two threads record the same job at once.
Results are recorded in batches (one read and one write transaction for all the results that
arrived together: fast jobs finish by the hundred a second). Files are written before the
transaction, so the database's write lock is never held during disk I/O. A failure the
database refuses to record (a full disk, a lock held too long) is kept and written again on
every poll, so that its job ends failed as soon as it can, never stays started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from dreamloom.domain import ACTIVE_STATUSES, RUNNING_STATUSES, JobStatus
from dreamloom.engine.describe import DESCRIBED_RECIPE
from dreamloom.events import EventBus, publish_job_event
from dreamloom.jobs.balance import FastBalanceCache
from dreamloom.jobs.buttons import cost_action
from dreamloom.jobs.cancel import CANCELLED_ERROR
from dreamloom.jobs.executor.base import SavedImage, TaskFailure, TaskProgress, TaskResult
from dreamloom.jobs.grid import compose_grid_png, numbered_pngs, png_size
from dreamloom.jobs.outputs import describe_response, save_error, with_notes
from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.pricing import Charge, price
from dreamloom.store import jobs_repo, ledger
from dreamloom.store.db import Database
from dreamloom.store.files import ImageFiles
from dreamloom.store.jobs_repo import Completion, ImageSpec, JobLike, JobRow
from dreamloom.store.ledger import Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Flight:
    """A job handed to the executor and not yet settled."""

    account_id: int
    mode: str
    created: datetime


@dataclass(frozen=True)
class _Failure:
    error: str
    status: str
    from_statuses: tuple[str, ...]


class Outcomes:
    def __init__(
        self,
        db: Database,
        files: ImageFiles,
        plans: PlanBook,
        events: EventBus,
        balances: FastBalanceCache,
        *,
        clock: Callable[[], datetime],
        retries: int,
    ) -> None:
        """``retries``: re-runs of a job whose worker died before it fails; ``balances``:
        the fast-time cache that each charge is taken off at once."""
        self.db = db
        self.files = files
        self.plans = plans
        self.events = events
        self.retries = retries
        self._balances = balances
        self._clock = clock
        self._unrecorded: dict[str, _Failure] = {}

    # -- progress -------------------------------------------------------------------------------

    def progress(self, event: TaskProgress, flight: Flight) -> None:
        percent = max(0, min(99, (100 * event.step) // max(1, event.total)))
        preview_path = None
        if event.preview_png is not None:
            preview_path = self.files.save_preview(event.job_id, event.preview_png, flight.created)
        with self.db.session(write=True) as session:
            if not jobs_repo.mark_progress(
                session, event.job_id, percent, self._clock(), preview_path
            ):
                return  # cancelled meanwhile
            job = jobs_repo.get_job(session, event.job_id)
        if job is not None:
            publish_job_event(
                self.events,
                job,
                JobStatus.PROGRESS,
                progress=percent,
                preview_path=preview_path,
                preview_png=event.preview_png,
            )

    # -- results --------------------------------------------------------------------------------

    def results(self, settled: Sequence[tuple[TaskResult, Flight]]) -> None:
        """Record finished runs: their images, charges and completion, in one transaction."""
        with self.db.session() as session:
            jobs = jobs_repo.job_rows(session, [result.job_id for result, _ in settled])
        finished: list[tuple[JobRow, Flight, TaskResult, Completion]] = []
        for result, flight in settled:
            job = jobs.get(result.job_id)
            if job is None:
                continue
            if job.status not in RUNNING_STATUSES:
                self._discard_saved(job, result, flight.created)
                self.charge_late(job, flight, result.compute_seconds)  # cancelled meanwhile
                continue
            # Files first, outside the transaction: the write lock is not held during disk I/O.
            try:
                images = self._save_outputs(job, result, flight.created)
            except OSError as exc:
                # A full disk fails the job now (nothing kept, nothing charged) rather than
                # failing the batch's transaction and leaving the job started.
                log.warning("job %s: cannot save its images: %s", job.id, exc)
                self.fail(job.id, save_error(exc))
                continue
            cost = self._cost(job, flight.mode, result.compute_seconds)
            completion = Completion(job.id, result.compute_seconds, cost, images)
            if result.prompts:
                completion = replace(
                    completion,
                    response={**(job.response or {}), **describe_response(result.prompts)},
                    # The uploaded picture was kept only to run the job again after a restart:
                    # a finished describe does not carry megabytes into every read of its row.
                    recipe=dict(DESCRIBED_RECIPE),
                )
            if result.notes:
                # A fallback is never silent: the worker logged it (``finishing``), the user
                # reads it in the job's response.
                response = completion.response or job.response or {}
                completion = replace(completion, response=with_notes(response, result.notes))
            finished.append((job, flight, result, completion))
        if not finished:
            return
        now = self._clock()
        with self.db.session(write=True) as session:
            done = jobs_repo.complete_jobs(session, [c for *_, c in finished], now)
            ledger.record_usages(
                session,
                [
                    Usage(job.account_id, job.id, flight.mode, c.gpu_seconds, c.cost_seconds)
                    for job, flight, _, c in finished
                    if job.id in done
                ],
                now,
            )
        for job, flight, result, completion in finished:
            if job.id in done:
                self._balances.charge(job.account_id, completion.cost_seconds)
                publish_job_event(self.events, job, JobStatus.COMPLETED, progress=100)
            else:  # cancelled between the read and the write
                for image in completion.images:
                    self.files.delete(image.path)
                self.charge_late(job, flight, result.compute_seconds)

    def _save_outputs(self, job: JobLike, result: TaskResult, created: datetime) -> list[ImageSpec]:
        """Write the images that came back as bytes; on OSError none of them is left."""
        saved = list(result.saved)  # written by the worker already
        if not saved:
            grid = result.grid_png
            if grid is None and len(result.images_png) > 1:
                grid = compose_grid_png(result.images_png)
            try:
                for index, data in numbered_pngs(result.images_png, grid):
                    self.files.save(job.id, index, data, created)
                    saved.append(SavedImage(index, *png_size(data)))
            except OSError:
                for image in saved:  # a job keeps all its images or none
                    self.files.delete(self.files.image_path(job.id, image.index, created))
                raise
        return [
            ImageSpec(
                image.index,
                self.files.image_path(job.id, image.index, created),
                image.width,
                image.height,
                _seed_of(image.index, result.seeds, job.seed),
                visibility=job.visibility,
            )
            for image in saved
        ]

    def _discard_saved(self, job: JobLike, result: TaskResult, created: datetime) -> None:
        """Delete what a worker wrote for a job that will not keep it (cancelled meanwhile)."""
        for image in result.saved:
            self.files.delete(self.files.image_path(job.id, image.index, created))

    # -- failures -------------------------------------------------------------------------------

    def failure(self, failure: TaskFailure, flight: Flight) -> None:
        """A run that ended without a result: retry, fail, moderate or charge a cancel."""
        with self.db.session() as session:
            job = jobs_repo.get_job(session, failure.job_id)
        if job is None:
            return
        if job.status not in RUNNING_STATUSES:
            self.charge_late(job, flight, failure.compute_seconds)  # cancelled by the user
            return
        if failure.moderated:
            # Blocked by the output filter: no image is kept and nothing is charged.
            self.fail(job.id, failure.error, status=JobStatus.MODERATED)
            return
        if failure.cancelled:
            # Cancelled by someone other than Dispatcher.cancel (e.g. an operator's tool).
            self.charge_late(job, flight, failure.compute_seconds)
            self.fail(job.id, CANCELLED_ERROR)
            return
        if failure.retryable and job.attempts <= self.retries:
            log.warning("job %s: %s; retrying", job.id, failure.error)
            with self.db.session(write=True) as session:
                requeued = jobs_repo.requeue(session, job.id, self._clock())
            if requeued:
                publish_job_event(self.events, job, JobStatus.CREATED)
            return
        error = failure.error
        if failure.retryable:
            error = f"{error} (gave up after {job.attempts} attempts)"
        self.fail(job.id, error)

    def fail(
        self,
        job_id: str,
        error: str,
        *,
        status: str = JobStatus.FAILED,
        from_statuses: Sequence[str] = ACTIVE_STATUSES,
    ) -> None:
        """End a job with ``error``; kept and written again later if the database refuses."""
        failure = _Failure(error, status, tuple(from_statuses))
        try:
            self._write_failure(job_id, failure)
        except Exception:
            log.exception("could not record the failure of job %s; trying again", job_id)
            self._unrecorded[job_id] = failure

    def record_unrecorded(self) -> None:
        """Write the failures the database refused before (called on every poll)."""
        for job_id, failure in list(self._unrecorded.items()):
            self._write_failure(job_id, failure)  # raises again while the database cannot
            del self._unrecorded[job_id]

    def _write_failure(self, job_id: str, failure: _Failure) -> None:
        with self.db.session(write=True) as session:
            failed = jobs_repo.mark_failed(
                session,
                job_id,
                failure.error,
                self._clock(),
                status=failure.status,
                from_statuses=failure.from_statuses,
            )
            job = jobs_repo.get_job(session, job_id)
        if failed and job is not None:
            publish_job_event(self.events, job, failure.status, error=failure.error)

    # -- charges --------------------------------------------------------------------------------

    def _cost(self, job: JobLike, mode: str, compute_seconds: float) -> float:
        charge = Charge(
            action=cost_action(job.verb, job.button),
            measured_seconds=compute_seconds,
            mode=mode,
            draft=job.draft,
            grid_seconds=job.grid_seconds,
        )
        return price(charge, self.plans.costs)

    def charge_late(self, job: JobLike, flight: Flight, compute_seconds: float) -> None:
        """Charge the measured time of a run that ended after its job was cancelled."""
        if compute_seconds <= 0:
            return
        cost = self._cost(job, flight.mode, compute_seconds)
        self._balances.charge(job.account_id, cost)
        with self.db.session(write=True) as session:
            jobs_repo.add_cost(session, job.id, compute_seconds, cost)
            ledger.record_usage(
                session,
                job.account_id,
                job.id,
                flight.mode,
                compute_seconds,
                cost,
                now=self._clock(),  # the month it counts against is the dispatcher's
            )


def _seed_of(index: int, seeds: Sequence[int], default: int | None) -> int | None:
    """The seed of image ``index`` (1...; the grid, 0, has the job's)."""
    return seeds[index - 1] if 1 <= index <= len(seeds) else default
