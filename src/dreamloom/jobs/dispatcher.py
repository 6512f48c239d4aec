"""The dispatcher: the single authority that turns queued jobs into running ones.

One thread owns every decision. It asks the scheduler for the next admissible job, marks it
started, hands a Task to the executor, and records what comes back: progress (percent and the
latest preview), results (images, grid, charge, completion) and failures (retry or fail with a
reason). Executor callbacks and cancel requests only post messages to the thread's inbox, so
no two threads ever act on the same job at once.

Run exactly one dispatcher per database: ``recover()`` re-queues every job left running, which
is only right when no other dispatcher is running them.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from dreamloom.engine.describe import DESCRIBED_RECIPE, is_describe
from dreamloom.events import EventBus, JobEvent
from dreamloom.jobs import scheduler
from dreamloom.jobs.balance import FastBalanceCache, relax_usage
from dreamloom.jobs.buttons import cost_action
from dreamloom.jobs.executor.base import (
    ENGINE_RUNNER,
    Executor,
    ExecutorEvent,
    SavedImage,
    Task,
    TaskFailure,
    TaskProgress,
    TaskResult,
)
from dreamloom.jobs.executor.local import LocalExecutor
from dreamloom.jobs.grid import compose_grid_png, numbered_pngs, png_size
from dreamloom.jobs.outputs import LEGACY_DESCRIBE_ERROR, describe_response, save_error
from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.pricing import GRID_SECONDS_KEY, Charge, price
from dreamloom.store import jobs_repo, ledger
from dreamloom.store.db import Database
from dreamloom.store.files import ImageFiles
from dreamloom.store.jobs_repo import Completion, ImageSpec, JobLike, JobRow
from dreamloom.store.ledger import Usage
from dreamloom.store.tables import Account, Job
from dreamloom.store.types import utcnow

if TYPE_CHECKING:
    from dreamloom.config import Settings

log = logging.getLogger(__name__)

# useapi v3 semantics: a cancelled job ends "failed" with this error.
CANCELLED_ERROR = "Job cancelled by user"
# The task's recipe carries the output filter's threshold under this key (the engine runner
# takes it out before the recipe is read); absent: outputs are not classified.
MODERATION_KEY = "_moderation_threshold"
# How many queued jobs, oldest first, one scheduling pass looks at.
SCAN_LIMIT = 128
# A fast-time balance computed for a scheduling pass is reused for this long (every wake-up
# would otherwise recompute it for every account in the queue); this dispatcher's own charges
# drop it at once, so only time granted by another process is seen up to this late.
BALANCE_CACHE_SECONDS = 1.0


class JobNotFoundError(LookupError):
    pass


class NotCancellableError(ValueError):
    """Only running jobs can be cancelled; ``message`` is the user-facing text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Flight:
    """A job handed to the executor and not yet settled."""

    account_id: int
    mode: str
    created: datetime


@dataclass(frozen=True)
class _Cancel:
    job: Job


@dataclass(frozen=True)
class _Failure:
    error: str
    status: str
    from_statuses: tuple[str, ...]


_WAKE = object()
_Message = ExecutorEvent | _Cancel | object


def cancel_job(session: Session, job_id: str, now: datetime | None = None) -> Job:
    """Mark a running job cancelled in the database (``Dispatcher.cancel`` does this and
    stops the run). A process without the dispatcher may call it directly: the dispatcher
    notices within ``poll_seconds`` and stops the run then."""
    job = jobs_repo.get_job(session, job_id)
    if job is None:
        raise JobNotFoundError(f"Job {job_id} not found")
    if job.status == jobs_repo.QUEUED:
        raise NotCancellableError(
            "Only running jobs can be cancelled: this job is still waiting in the queue"
        )
    if not jobs_repo.mark_failed(
        session,
        job_id,
        CANCELLED_ERROR,
        now or utcnow(),
        from_statuses=jobs_repo.RUNNING_STATUSES,
    ):
        raise NotCancellableError(
            f"Only running jobs can be cancelled: this job is already {job.status}"
        )
    session.refresh(job)
    return job


class Dispatcher:
    def __init__(
        self,
        db: Database,
        executor: Executor,
        files: ImageFiles,
        plans: PlanBook,
        events: EventBus,
        *,
        cache_dir: Path,
        backend_ref: str = "tiny",
        device: str = "cpu",
        runner: str = ENGINE_RUNNER,
        retries: int = 1,
        poll_seconds: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
        moderation_threshold: float | None = None,
        balances: FastBalanceCache | None = None,
    ) -> None:
        """``retries``: re-runs of a job whose worker died before it fails; ``poll_seconds``:
        how often to look for jobs queued without a ``wake()`` (e.g. by another process);
        ``balances``: a fast-time cache to share with the process's admission."""
        self.db = db
        self.executor = executor
        self.files = files
        self.plans = plans
        self.events = events
        self.cache_dir = cache_dir
        self.backend_ref = backend_ref
        self.device = device
        self.runner = runner
        self.retries = retries
        self.poll_seconds = poll_seconds
        self.moderation_threshold = moderation_threshold
        self._clock = clock
        self._inbox: queue.Queue[_Message] = queue.Queue()
        self._in_flight: dict[str, _Flight] = {}
        self._cancel_sent: set[str] = set()  # in-flight jobs the executor was told to stop
        # Failures the database refused to record (full disk, locked too long): tried again
        # on every poll, so that such a job ends failed as soon as it can, not at a restart.
        self._unrecorded: dict[str, _Failure] = {}
        self._balances = balances or FastBalanceCache(plans, ttl=BALANCE_CACHE_SECONDS)
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Recover jobs of a previous run, start the executor and the dispatch thread."""
        if self._thread is not None:
            raise RuntimeError("dispatcher already started")
        self.recover()
        self.executor.start(self._inbox.put)
        self._thread = threading.Thread(target=self._loop, name="dreamloom-dispatcher")
        self._thread.daemon = True
        self._thread.start()
        self.wake()

    def lower_priority(self, nice: int) -> bool:
        """Run the dispatch thread at niceness ``nice`` (Linux, where a thread has its own);
        False where that cannot be done (no thread yet, another system)."""
        thread_id = self._thread.native_id if self._thread is not None else None
        if thread_id is None or not sys.platform.startswith("linux"):
            return False
        try:
            os.setpriority(os.PRIO_PROCESS, thread_id, nice)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop dispatching and the executor. Running jobs stay "running" in the database and
        are re-queued by the next start's ``recover()``. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._inbox.put(_WAKE)
        if self._thread is not None:
            self._thread.join(timeout)
        self.executor.stop()

    def recover(self) -> list[str]:
        """Re-queue jobs a previous process left started/in progress (their attempt counted).

        Queued jobs simply stay queued. Returns the ids of the re-queued jobs.
        """
        now = self._clock()
        requeued: list[Job] = []
        with self.db.session(write=True) as session:
            for job in jobs_repo.jobs_with_status(session, jobs_repo.RUNNING_STATUSES):
                if jobs_repo.requeue(session, job.id, now):
                    requeued.append(job)
        for job in requeued:
            log.info("re-queued job %s interrupted by a restart", job.id)
            self._end_run(job.id, job.created)
            publish_job_event(self.events, job, jobs_repo.QUEUED)
        return [job.id for job in requeued]

    # -- what the service calls -----------------------------------------------------------

    def wake(self) -> None:
        """Look at the queue now (new jobs were queued)."""
        self._idle.clear()
        self._inbox.put(_WAKE)

    def submitted(self, jobs: Sequence[JobLike]) -> None:
        """Announce freshly queued jobs ("created" events) and wake the dispatch loop."""
        for job in jobs:
            publish_job_event(self.events, job, jobs_repo.QUEUED)
        self.wake()

    def cancel(self, job_id: str) -> Job:
        """Cancel a running job: it fails with "Job cancelled by user" at once and is charged
        only the compute time it measured. Queued and finished jobs cannot be cancelled."""
        with self.db.session(write=True) as session:
            job = cancel_job(session, job_id, self._clock())
        # The dispatch thread stops the run and publishes "failed": after any progress event
        # it published before, never before one.
        self._inbox.put(_Cancel(job))
        return job

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing runs and nothing startable is queued (tests, shutdown)."""
        self.wake()
        return self._idle.wait(timeout)

    # -- the loop -----------------------------------------------------------------------------

    def _loop(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            try:
                first = self._inbox.get(timeout=self.poll_seconds)
                messages = [first]
            except queue.Empty:
                messages = []
            while len(messages) < 256:
                try:
                    messages.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            if self._stop.is_set():
                return
            results: list[TaskResult] = []
            for i, message in enumerate(messages):
                if isinstance(message, TaskResult):
                    results.append(message)  # settled together with the results after it
                    continue
                if results:
                    self._guarded(self._settle_results, results)
                    results = []
                if isinstance(message, TaskProgress) and _superseded(message, messages[i + 1 :]):
                    continue  # only the latest progress of a job is worth a database write
                self._guarded(self._handle, message)
            if results:
                self._guarded(self._settle_results, results)
            # Progress alone changes nothing the scheduler looks at: skip the queue scan then,
            # except on the poll timer (which also catches work of other processes).
            polled = time.monotonic() >= next_poll
            if polled or any(not isinstance(m, TaskProgress) for m in messages):
                self._guarded(self._fill)
            if polled:
                self._guarded(self._reap_cancelled)
                self._guarded(self._record_unrecorded)
                next_poll = time.monotonic() + self.poll_seconds

    def _guarded(self, fn: Callable[..., None], *args: object) -> None:
        # Whatever goes wrong with one job, the loop keeps serving the others.
        try:
            fn(*args)
        except Exception:
            log.exception("dispatcher error")

    def _handle(self, message: _Message) -> None:
        if isinstance(message, TaskProgress):
            self._on_progress(message)
        elif isinstance(message, TaskFailure):
            self._settle(message.job_id, lambda flight: self._on_failure(message, flight))
        elif isinstance(message, _Cancel):
            self._stop_run(message.job)

    def _stop_run(self, job: Job) -> None:
        """Stop the run of a job cancelled in the database; announce it once."""
        if job.id in self._cancel_sent:
            return
        if job.id in self._in_flight:
            self._cancel_sent.add(job.id)
            self.executor.cancel(job.id)
        publish_job_event(self.events, job, jobs_repo.FAILED, error=job.error or CANCELLED_ERROR)

    def _reap_cancelled(self) -> None:
        """Stop runs whose job ended in the database behind our back (``cancel_job`` called
        by another process)."""
        candidates = [j for j in self._in_flight if j not in self._cancel_sent]
        if not candidates:
            return
        with self.db.session() as session:
            jobs = [jobs_repo.get_job(session, job_id) for job_id in candidates]
        for job in jobs:
            if job is not None and job.status not in jobs_repo.RUNNING_STATUSES:
                self._stop_run(job)

    def _settle(self, job_id: str, handler: Callable[[_Flight], None]) -> None:
        flight = self._take_flight(job_id)
        if flight is not None:
            self._record_or_fail(job_id, partial(handler, flight))

    def _end_run(self, job_id: str, created: datetime) -> None:
        """A run is over (whatever becomes of its job): its preview goes, before the outcome
        is announced. No progress of it is written after this (``_on_progress`` needs the
        flight)."""
        try:
            self.files.delete_preview(job_id, created)
        except OSError:
            log.warning("could not delete the preview of job %s", job_id, exc_info=True)

    def _take_flight(self, job_id: str) -> _Flight | None:
        """The flight of a job whose run ended; None when it is not ours (a stale event)."""
        self._cancel_sent.discard(job_id)
        flight = self._in_flight.pop(job_id, None)
        if flight is not None:
            self._end_run(job_id, flight.created)
        return flight

    def _record_or_fail(self, job_id: str, record: Callable[[], None]) -> None:
        try:
            record()
        except Exception as exc:
            log.exception("could not record the outcome of job %s", job_id)
            self._fail(job_id, f"Internal error while recording the job's outcome: {exc}")

    # -- starting jobs ----------------------------------------------------------------------

    def _fill(self) -> None:
        free = self.executor.slots - len(self._in_flight)
        if free <= 0:
            return
        now = self._clock()
        with self.db.session() as session:
            # The head of the queue is enough to choose from: loading a backlog of thousands
            # on every wake-up would cost more than the jobs (relax fairness then works
            # among the oldest SCAN_LIMIT waiting jobs).
            queued = jobs_repo.queue_entries(session, (jobs_repo.QUEUED,), limit=SCAN_LIMIT)
            if not queued:
                if not self._in_flight:
                    self._idle.set()
                return
            states = self._account_states(session, queued, now)
        queue_view = [_queued_view(entry) for entry in queued]
        # What runs is what this dispatcher runs (the only one per database; ``recover``
        # re-queued what a previous one left): no query needed. A run cancelled by another
        # process counts until its worker stops, as its GPU is busy until then.
        running_view = [
            scheduler.RunningJob(job_id, flight.account_id, flight.mode)
            for job_id, flight in self._in_flight.items()
        ]
        by_id = {entry.id: entry for entry in queued}
        chosen: list[tuple[str, str]] = []
        while free > 0:
            decision = scheduler.pick_next(
                queue_view,
                running_view,
                states,
                turbo_available=self.plans.turbo_available,
                relax_inflight_seconds=self.plans.relax_inflight_seconds,
            )
            if decision is None:
                break
            queue_view = [q for q in queue_view if q.id != decision.job_id]
            entry = by_id[decision.job_id]
            if isinstance(decision, scheduler.Reject):
                self._fail(entry.id, decision.reason, from_statuses=(jobs_repo.QUEUED,))
                continue
            chosen.append((entry.id, decision.mode))
            running_view.append(scheduler.RunningJob(entry.id, entry.account_id, decision.mode))
            free -= 1
        if chosen and self._start(chosen) < len(chosen):
            self.wake()  # some were cancelled meanwhile: their slots are free for others
        if not self._in_flight and not queue_view:
            self._idle.set()

    def _account_states(
        self, session: Session, queued: Sequence[jobs_repo.QueueEntry], now: datetime
    ) -> dict[int, scheduler.AccountState]:
        """The plan, fast time and recent relax use of each account with waiting jobs: a
        few queries for all of them, run after every finished job."""
        ids = sorted({entry.account_id for entry in queued})
        accounts = {
            account.id: account
            for account in session.scalars(select(Account).where(Account.id.in_(ids)))
        }
        # Fast time only gates fast and turbo jobs; relax fairness only orders relax jobs,
        # which includes fast jobs of accounts out of fast time (they fall back to relax).
        needs_fast = {e.account_id for e in queued if e.mode_requested != "relax"}
        fast = self._balances.remaining(
            session, [a for i, a in accounts.items() if i in needs_fast], now
        )
        may_relax = {
            e.account_id
            for e in queued
            if e.mode_requested == "relax" or fast.get(e.account_id, 0.0) <= 0
        }
        usage = relax_usage(
            session, [a for i, a in accounts.items() if i in may_relax], self.plans, now
        )
        return {
            account_id: scheduler.AccountState(
                plan=self.plans.get(account.plan),
                fast_remaining=fast.get(account_id, 0.0),
                relax_usage=usage.get(account_id, 0.0),
            )
            for account_id, account in accounts.items()
        }

    def _start(self, chosen: Sequence[tuple[str, str]]) -> int:
        """Mark the chosen jobs (id, mode) started in one transaction and hand them to the
        executor; returns how many were marked (a job cancelled meanwhile is not; one the
        executor refuses goes back to the queue)."""
        with self.db.session(write=True) as session:
            started = jobs_repo.start_jobs(session, chosen, self._clock())
        for job in started:
            self._launch(job)
        return len(started)

    def _launch(self, job: JobRow) -> None:
        """Hand a job just marked started (``mode_effective`` set) to the executor."""
        if job.verb == "describe" and not is_describe(job.recipe):
            # Queued by a version that ran describes beside the queue and stored no image:
            # nothing here can run it again.
            self._fail(job.id, LEGACY_DESCRIBE_ERROR)
            return
        mode = job.mode_effective or job.mode_requested
        recipe = dict(job.recipe or {})
        if self.moderation_threshold is not None:
            recipe[MODERATION_KEY] = self.moderation_threshold
        task = Task(
            job_id=job.id,
            backend_ref=self.backend_ref,
            cache_dir=self.cache_dir,
            device=self.device,
            recipe=recipe,
            runner=self.runner,
            output_dir=(
                self.files.resolve(self.files.job_dir(job.id, job.created))
                if self.executor.shares_disk
                else None
            ),
        )
        self._in_flight[job.id] = _Flight(job.account_id, mode, job.created)
        self._idle.clear()
        try:
            self.executor.submit(task)
        except Exception:
            log.exception("executor refused job %s; putting it back in the queue", job.id)
            del self._in_flight[job.id]
            with self.db.session(write=True) as session:
                jobs_repo.requeue(session, job.id, self._clock())
            return
        publish_job_event(self.events, job, jobs_repo.STARTED)

    # -- recording outcomes -------------------------------------------------------------------

    def _on_progress(self, event: TaskProgress) -> None:
        flight = self._in_flight.get(event.job_id)
        if flight is None:
            return
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
                jobs_repo.PROGRESS,
                progress=percent,
                preview_path=preview_path,
                preview_png=event.preview_png,
            )

    def _settle_results(self, results: Sequence[TaskResult]) -> None:
        """Record results that arrived together: one read and one write transaction for all
        of them (fast jobs finish by the hundred a second, and a transaction each was most
        of the dispatcher's time). Should that fail, each is recorded on its own."""
        settled = [
            (result, flight)
            for result in results
            if (flight := self._take_flight(result.job_id)) is not None
        ]
        if len(settled) > 1:
            try:
                self._record_results(settled)
                return
            except Exception:
                log.exception("could not record %d results together; one at a time", len(settled))
        for result, flight in settled:
            self._record_or_fail(result.job_id, partial(self._record_results, [(result, flight)]))

    def _record_results(self, settled: Sequence[tuple[TaskResult, _Flight]]) -> None:
        with self.db.session() as session:
            jobs = jobs_repo.job_rows(session, [result.job_id for result, _ in settled])
        finished: list[tuple[JobRow, _Flight, TaskResult, Completion]] = []
        for result, flight in settled:
            job = jobs.get(result.job_id)
            if job is None:
                continue
            if job.status not in jobs_repo.RUNNING_STATUSES:
                self._discard_saved(job, result, flight.created)
                self._charge_late(job, flight, result.compute_seconds)  # cancelled meanwhile
                continue
            # Files first, outside the transaction: the write lock is not held during disk I/O.
            try:
                images = self._save_outputs(job, result, flight.created)
            except OSError as exc:
                # A full disk fails the job now (nothing kept, nothing charged) rather than
                # failing the batch's transaction and leaving the job started.
                log.warning("job %s: cannot save its images: %s", job.id, exc)
                self._fail(job.id, save_error(exc))
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
                publish_job_event(self.events, job, jobs_repo.COMPLETED, progress=100)
            else:  # cancelled between the read and the write
                for image in completion.images:
                    self.files.delete(image.path)
                self._charge_late(job, flight, result.compute_seconds)

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

    def _on_failure(self, failure: TaskFailure, flight: _Flight) -> None:
        with self.db.session() as session:
            job = jobs_repo.get_job(session, failure.job_id)
        if job is None:
            return
        if job.status not in jobs_repo.RUNNING_STATUSES:
            self._charge_late(job, flight, failure.compute_seconds)  # cancelled by the user
            return
        if failure.moderated:
            # Blocked by the output filter: no image is kept and nothing is charged.
            self._fail(job.id, failure.error, status=jobs_repo.MODERATED)
            return
        if failure.cancelled:
            # Cancelled by someone other than Dispatcher.cancel (e.g. an operator's tool).
            self._charge_late(job, flight, failure.compute_seconds)
            self._fail(job.id, CANCELLED_ERROR)
            return
        if failure.retryable and job.attempts <= self.retries:
            log.warning("job %s: %s; retrying", job.id, failure.error)
            with self.db.session(write=True) as session:
                requeued = jobs_repo.requeue(session, job.id, self._clock())
            if requeued:
                publish_job_event(self.events, job, jobs_repo.QUEUED)
            return
        error = failure.error
        if failure.retryable:
            error = f"{error} (gave up after {job.attempts} attempts)"
        self._fail(job.id, error)

    def _fail(
        self,
        job_id: str,
        error: str,
        *,
        status: str = jobs_repo.FAILED,
        from_statuses: Sequence[str] = jobs_repo.ACTIVE_STATUSES,
    ) -> None:
        failure = _Failure(error, status, tuple(from_statuses))
        try:
            self._write_failure(job_id, failure)
        except Exception:
            log.exception("could not record the failure of job %s; trying again", job_id)
            self._unrecorded[job_id] = failure

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

    def _record_unrecorded(self) -> None:
        for job_id, failure in list(self._unrecorded.items()):
            self._write_failure(job_id, failure)  # raises again while the database cannot
            del self._unrecorded[job_id]

    def _cost(self, job: JobLike, mode: str, compute_seconds: float) -> float:
        grid = (job.response or {}).get(GRID_SECONDS_KEY)
        charge = Charge(
            action=cost_action(job.verb, job.button),
            measured_seconds=compute_seconds,
            mode=mode,
            draft=job.draft,
            grid_seconds=grid if isinstance(grid, float) else None,
        )
        return price(charge, self.plans.costs)

    def _charge_late(self, job: JobLike, flight: _Flight, compute_seconds: float) -> None:
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


def publish_job_event(
    events: EventBus,
    job: JobLike,
    status: str,
    *,
    progress: int = 0,
    error: str | None = None,
    preview_path: str | None = None,
    preview_png: bytes | None = None,
) -> None:
    """Tell the bus that ``job`` reached ``status`` (the dispatcher's and the service's
    one way of announcing a job)."""
    events.publish(
        JobEvent(
            job_id=job.id,
            account_id=job.account_id,
            status=status,
            progress=progress,
            error=error,
            preview_path=preview_path,
            preview_png=preview_png,
        )
    )


def build_dispatcher(
    settings: Settings,
    db: Database,
    events: EventBus,
    *,
    runner: str = ENGINE_RUNNER,
    executor: Executor | None = None,
    plans: PlanBook | None = None,
    balances: FastBalanceCache | None = None,
) -> Dispatcher:
    """A dispatcher wired from Settings: local workers, images under the data directory,
    plans from ``settings.plans_file``."""
    return Dispatcher(
        db,
        executor
        if executor is not None
        else LocalExecutor(
            settings.workers,
            queue=settings.worker_queue,
            stall_timeout_s=settings.job_stall_timeout_s,
        ),
        ImageFiles(settings.images_dir),
        plans if plans is not None else PlanBook.load(settings.plans_file),
        events,
        cache_dir=settings.models_dir,
        backend_ref=settings.model,
        device=settings.device,
        runner=runner,
        retries=settings.job_retries,
        balances=balances,
        # Above 1 nothing could be blocked: skip the classifier altogether.
        moderation_threshold=(
            settings.image_moderation_threshold
            if settings.image_moderation_threshold <= 1.0
            else None
        ),
    )


def _queued_view(job: jobs_repo.QueueEntry) -> scheduler.QueuedJob:
    return scheduler.QueuedJob(
        id=job.id,
        account_id=job.account_id,
        mode=job.mode_requested,
        enqueued_at=job.enqueued_at,
        batch_index=job.batch_index,
        priority=job.priority,
    )


def _seed_of(index: int, seeds: Sequence[int], default: int | None) -> int | None:
    """The seed of image ``index`` (1...; the grid, 0, has the job's)."""
    return seeds[index - 1] if 1 <= index <= len(seeds) else default


def _superseded(progress: TaskProgress, later: Sequence[_Message]) -> bool:
    return any(
        isinstance(m, TaskProgress | TaskResult | TaskFailure) and m.job_id == progress.job_id
        for m in later
    )
