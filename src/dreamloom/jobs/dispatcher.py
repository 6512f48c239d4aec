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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from dreamloom.domain import RUNNING_STATUSES, JobStatus, Verb
from dreamloom.engine.describe import is_describe
from dreamloom.engine.options import EngineOptions
from dreamloom.events import EventBus, publish_job_event
from dreamloom.jobs import scheduler, scheduling
from dreamloom.jobs.balance import BALANCE_CACHE_SECONDS, FastBalanceCache
from dreamloom.jobs.cancel import CANCELLED_ERROR, cancel_job
from dreamloom.jobs.executor.base import (
    ENGINE_RUNNER,
    MODERATION_KEY,
    Executor,
    ExecutorEvent,
    Task,
    TaskFailure,
    TaskProgress,
    TaskResult,
)
from dreamloom.jobs.outcomes import Flight, Outcomes
from dreamloom.jobs.outputs import LEGACY_DESCRIBE_ERROR
from dreamloom.jobs.plans import PlanBook
from dreamloom.store import jobs_repo
from dreamloom.store.db import Database
from dreamloom.store.files import ImageFiles
from dreamloom.store.jobs_repo import JobLike, JobRow
from dreamloom.store.tables import Job
from dreamloom.store.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Cancel:
    job: Job


_WAKE = object()
_Message = ExecutorEvent | _Cancel | object


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
        engine_options: EngineOptions = EngineOptions(),
        ip_adapters: Mapping[str, str] | None = None,
        loaded_models: int = 1,
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
        self.engine_options = engine_options
        # Model reference -> the IP-Adapter its workers load it with (engine.catalog).
        self.ip_adapters = dict(ip_adapters or {})
        self.loaded_models = loaded_models
        self.runner = runner
        self.poll_seconds = poll_seconds
        self.moderation_threshold = moderation_threshold
        self._clock = clock
        self._inbox: queue.Queue[_Message] = queue.Queue()
        self._in_flight: dict[str, Flight] = {}
        self._cancel_sent: set[str] = set()  # in-flight jobs the executor was told to stop
        self._balances = balances or FastBalanceCache(plans, ttl=BALANCE_CACHE_SECONDS)
        self._outcomes = Outcomes(
            db, files, plans, events, self._balances, clock=clock, retries=retries
        )
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
            for job in jobs_repo.jobs_with_status(session, RUNNING_STATUSES):
                if jobs_repo.requeue(session, job.id, now):
                    requeued.append(job)
        for job in requeued:
            log.info("re-queued job %s interrupted by a restart", job.id)
            self._end_run(job.id, job.created)
            publish_job_event(self.events, job, JobStatus.CREATED)
        return [job.id for job in requeued]

    # -- what the service calls -----------------------------------------------------------

    def wake(self) -> None:
        """Look at the queue now (new jobs were queued)."""
        self._idle.clear()
        self._inbox.put(_WAKE)

    def submitted(self, jobs: Sequence[JobLike]) -> None:
        """Announce freshly queued jobs ("created" events) and wake the dispatch loop."""
        for job in jobs:
            publish_job_event(self.events, job, JobStatus.CREATED)
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
                self._guarded(self._outcomes.record_unrecorded)
                next_poll = time.monotonic() + self.poll_seconds

    def _guarded(self, fn: Callable[..., None], *args: object) -> None:
        # Whatever goes wrong with one job, the loop keeps serving the others.
        try:
            fn(*args)
        except Exception:
            log.exception("dispatcher error")

    def _handle(self, message: _Message) -> None:
        # TaskComputed records nothing: its job's device is free, and the queue scan that
        # follows every batch of messages other than progress starts the next job on it.
        if isinstance(message, TaskProgress):
            flight = self._in_flight.get(message.job_id)
            if flight is not None:  # else: its run was settled or cancelled meanwhile
                self._outcomes.progress(message, flight)
        elif isinstance(message, TaskFailure):
            self._settle(message.job_id, partial(self._outcomes.failure, message))
        elif isinstance(message, _Cancel):
            self._stop_run(message.job)

    # -- runs ending ----------------------------------------------------------------------------

    def _stop_run(self, job: Job) -> None:
        """Stop the run of a job cancelled in the database; announce it once."""
        if job.id in self._cancel_sent:
            return
        if job.id in self._in_flight:
            self._cancel_sent.add(job.id)
            self.executor.cancel(job.id)
        publish_job_event(self.events, job, JobStatus.FAILED, error=job.error or CANCELLED_ERROR)

    def _reap_cancelled(self) -> None:
        """Stop runs whose job ended in the database behind our back (``cancel_job`` called
        by another process)."""
        candidates = [j for j in self._in_flight if j not in self._cancel_sent]
        if not candidates:
            return
        with self.db.session() as session:
            jobs = [jobs_repo.get_job(session, job_id) for job_id in candidates]
        for job in jobs:
            if job is not None and job.status not in RUNNING_STATUSES:
                self._stop_run(job)

    def _settle(self, job_id: str, handler: Callable[[Flight], None]) -> None:
        flight = self._take_flight(job_id)
        if flight is not None:
            self._record_or_fail(job_id, partial(handler, flight))

    def _end_run(self, job_id: str, created: datetime) -> None:
        """A run is over (whatever becomes of its job): its preview goes, before the outcome
        is announced. No progress of it is written after this (progress needs the flight)."""
        try:
            self.files.delete_preview(job_id, created)
        except OSError:
            log.warning("could not delete the preview of job %s", job_id, exc_info=True)

    def _take_flight(self, job_id: str) -> Flight | None:
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
            self._outcomes.fail(job_id, f"Internal error while recording the job's outcome: {exc}")

    def _settle_results(self, results: Sequence[TaskResult]) -> None:
        """Record results that arrived together in one go (``Outcomes.results``); should that
        fail, each is recorded on its own."""
        settled = [
            (result, flight)
            for result in results
            if (flight := self._take_flight(result.job_id)) is not None
        ]
        if len(settled) > 1:
            try:
                self._outcomes.results(settled)
                return
            except Exception:
                log.exception("could not record %d results together; one at a time", len(settled))
        for result, flight in settled:
            self._record_or_fail(result.job_id, partial(self._outcomes.results, [(result, flight)]))

    # -- starting jobs ----------------------------------------------------------------------

    def _fill(self) -> None:
        free = self.executor.free
        if free <= 0:
            return
        with self.db.session() as session:
            read = scheduling.read_pass(session, self.plans, self._balances, self._clock())
        if not read.queued:
            if not self._in_flight:
                self._idle.set()
            return
        # What runs is what this dispatcher runs (the only one per database; ``recover``
        # re-queued what a previous one left): no query needed. A run cancelled by another
        # process counts until its worker stops, as its GPU is busy until then.
        running = [
            scheduler.RunningJob(job_id, flight.account_id, flight.mode)
            for job_id, flight in self._in_flight.items()
        ]
        picks = scheduling.pick(read, running, free, self.plans)
        for job_id, reason in picks.rejects:
            self._outcomes.fail(job_id, reason, from_statuses=(JobStatus.CREATED,))
        if picks.starts and self._start(picks.starts) < len(picks.starts):
            self.wake()  # some were cancelled meanwhile: their slots are free for others
        if not self._in_flight and not picks.waiting:
            self._idle.set()

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
        if job.verb == Verb.DESCRIBE and not is_describe(job.recipe):
            # Queued by a version that ran describes beside the queue and stored no image:
            # nothing here can run it again.
            self._outcomes.fail(job.id, LEGACY_DESCRIBE_ERROR)
            return
        mode = job.mode_effective or job.mode_requested
        recipe = dict(job.recipe or {})
        if self.moderation_threshold is not None:
            recipe[MODERATION_KEY] = self.moderation_threshold
        # A job runs on the model its recipe names (its version's, engine.catalog); the
        # configured model serves recipes that name none (describe's).
        backend_ref = str(recipe.get("model") or self.backend_ref)
        task = Task(
            job_id=job.id,
            backend_ref=backend_ref,
            cache_dir=self.cache_dir,
            device=self.device,
            engine_options=self.engine_options,
            ip_adapter=self.ip_adapters.get(backend_ref),
            loaded_models=self.loaded_models,
            recipe=recipe,
            runner=self.runner,
            caption=job.prompt_text,
            output_dir=(
                self.files.resolve(self.files.job_dir(job.id, job.created))
                if self.executor.shares_disk
                else None
            ),
        )
        self._in_flight[job.id] = Flight(job.account_id, mode, job.created)
        self._idle.clear()
        try:
            self.executor.submit(task)
        except Exception:
            log.exception("executor refused job %s; putting it back in the queue", job.id)
            del self._in_flight[job.id]
            with self.db.session(write=True) as session:
                jobs_repo.requeue(session, job.id, self._clock())
            return
        publish_job_event(self.events, job, JobStatus.STARTED)


def _superseded(progress: TaskProgress, later: Sequence[_Message]) -> bool:
    return any(
        isinstance(m, TaskProgress | TaskResult | TaskFailure) and m.job_id == progress.job_id
        for m in later
    )
