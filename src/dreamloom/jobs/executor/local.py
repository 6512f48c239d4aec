"""The local executor: worker processes on this machine, one per device.

Each worker is a process started with the "spawn" method (no inherited threads, locks or CUDA
state) that keeps its model loaded between tasks and serves every task of its device: it
batches the compatible ones, and finishes (moderates, encodes, writes) one batch's pictures
while it computes the next (see ``worker``). It holds up to ``depth`` tasks that need its
model (a batch's worth, and ``queue`` more); those whose pictures are being finished no longer
count, so the next batch is on its way while the last one is finished.

One supervisor thread owns all the pipes: it hands tasks to the least busy worker, relays
their messages, and watches their process sentinels.

A worker that dies (killed, segfault, out of memory) is noticed through its sentinel; every
task it held is reported as a retryable failure and a fresh worker takes its place. A
cancelled task that does not stop within ``cancel_grace_s`` gets its worker killed, and so does
a worker that sends nothing (no progress, no result) for ``stall_timeout_s`` while it holds
tasks: a hung driver or a deadlocked library must not hold a device, and its jobs, for ever.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from dreamloom.jobs.executor.base import (
    EventCallback,
    ExecutorEvent,
    Task,
    TaskComputed,
    TaskFailure,
    TaskResult,
)
from dreamloom.jobs.executor.worker import WorkerConfig, worker_main

log = logging.getLogger(__name__)

WORKER_DIED = "The worker process stopped unexpectedly (exit code {code}) while running this job"
STALLED = "The job made no progress for {seconds:g} seconds; its worker was stopped"

_POLL_SECONDS = 0.5


@dataclass
class _Run:
    """A task handed to a worker (waiting there, computing or being finished)."""

    task: Task
    cancel_deadline: float | None = None  # set when it was asked to stop
    heard: bool = False  # it sent progress: its computation began
    computed: bool = False  # the model is done with it: its pictures are being finished


@dataclass
class _Worker:
    slot: int
    process: BaseProcess
    conn: Connection
    spawned_at: float
    runs: dict[int, _Run] = field(default_factory=dict)  # by ticket
    # The models it was last sent tasks for, most recent last: what it most likely holds
    # loaded (engine_runner keeps ``Task.loaded_models`` of them).
    models: list[str] = field(default_factory=list)

    @property
    def computing(self) -> int:
        """Tasks that still need the model (waiting for it in the worker, or computing)."""
        return sum(1 for run in self.runs.values() if not run.computed)

    @property
    def finishing(self) -> int:
        return len(self.runs) - self.computing

    last_heard: float = 0.0  # when it last sent anything while holding tasks
    killed_for_cancel: bool = False
    killed_for_stall: bool = False


@dataclass
class _Slot:
    """A place for one worker; survives the workers that come and go in it."""

    index: int
    device: str | None  # the device its workers run on (None: the one each task names)
    worker: _Worker | None = None
    respawn_at: float = 0.0
    backoff: float = 0.0


def _note_model(worker: _Worker, task: Task) -> None:
    if task.backend_ref in worker.models:
        worker.models.remove(task.backend_ref)
    worker.models.append(task.backend_ref)
    del worker.models[: -max(1, task.loaded_models)]


def jobs_per_batch(batch_images: int) -> int:
    """How many grid jobs (four images each) one batch holds."""
    return max(1, batch_images // 4)


class LocalExecutor:
    def __init__(
        self,
        workers: int = 1,
        *,
        batch_images: int = 4,
        queue: int = 0,
        devices: Sequence[str] | None = None,
        finishing_threads: int | None = None,
        cancel_grace_s: float = 10.0,
        stall_timeout_s: float | None = None,
    ) -> None:
        """``batch_images``: the most images a worker runs as one batch (4: every grid job
        alone); ``queue``: tasks each worker holds beyond a batch's worth;
        ``devices``: one per worker (e.g. cuda:0, cuda:1), else the device each task names;
        ``finishing_threads``: threads per worker that finish pictures (default: the cores);
        ``stall_timeout_s``: kill a worker holding tasks that sent nothing for this long
        (None or 0: never). A worker's first task also loads the model: leave room for it."""
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if queue < 0:
            raise ValueError("queue must be >= 0")
        if batch_images < 1:
            raise ValueError("batch_images must be >= 1")
        if devices is not None and len(devices) != workers:
            raise ValueError("give one device per worker")
        self._depth = jobs_per_batch(batch_images) + queue
        # A worker whose finishing stage falls this far behind gets no new task until it
        # catches up: its pictures would pile up in memory.
        self._finishing_cap = 2 * self._depth
        self._config = WorkerConfig(
            batch_images=batch_images,
            finishing_threads=finishing_threads or os.cpu_count() or 1,
        )
        self._stall_timeout_s = stall_timeout_s or None
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = [
            _Slot(i, devices[i] if devices is not None else None) for i in range(workers)
        ]
        self._cancel_grace_s = cancel_grace_s
        self._tickets = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: deque[Task] = deque()
        self._outbox: list[ExecutorEvent] = []  # events produced outside the supervisor
        self._cancel_requests: set[str] = set()
        self._on_event: EventCallback | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stopped = False
        # A self-pipe: writing a byte wakes the supervisor out of its wait() on the pipes.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.restarts = 0  # workers replaced after dying (for tests and metrics)

    # -- the Executor protocol ---------------------------------------------------------------

    @property
    def slots(self) -> int:
        return self._depth * len(self._slots)

    @property
    def free(self) -> int:
        with self._lock:
            free = -len(self._pending)
            for slot in self._slots:
                worker = slot.worker
                if worker is None:
                    free += self._depth  # being replaced: its tasks wait here meanwhile
                elif worker.finishing < self._finishing_cap:
                    free += self._depth - worker.computing
            return max(0, free)

    @property
    def shares_disk(self) -> bool:
        return True  # worker processes on this machine

    def start(self, on_event: EventCallback) -> None:
        if self._thread is not None:
            raise RuntimeError("executor already started")
        self._on_event = on_event
        for slot in self._slots:
            self._spawn(slot)
        self._thread = threading.Thread(
            target=self._supervise, name="dreamloom-local-executor", daemon=True
        )
        self._thread.start()

    def submit(self, task: Task) -> None:
        with self._lock:
            if self._thread is None or self._stopping.is_set():
                raise RuntimeError("executor is not running")
            held = sum(s.worker.computing for s in self._slots if s.worker is not None)
            if held + len(self._pending) >= self.slots:
                raise RuntimeError("no free worker slot")
            self._pending.append(task)
        self._wake()

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            for task in self._pending:
                if task.job_id == job_id:
                    self._pending.remove(task)
                    self._outbox.append(
                        TaskFailure(job_id, "cancelled", retryable=False, cancelled=True)
                    )
                    break
            else:
                if not any(
                    run.task.job_id == job_id
                    for s in self._slots
                    if s.worker is not None
                    for run in s.worker.runs.values()
                ):
                    return False
                self._cancel_requests.add(job_id)
        self._wake()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers (killing any that are busy). Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        for slot in self._slots:
            if slot.worker is not None:
                self._retire(slot.worker, timeout)
                slot.worker = None
        if self._thread is None or not self._thread.is_alive():
            os.close(self._wake_r)
            os.close(self._wake_w)

    # -- supervisor ----------------------------------------------------------------------------

    def _wake(self) -> None:
        # OSError: the pipe is full (a wake-up is pending anyway) or closed (stopped).
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    def _spawn(self, slot: _Slot) -> None:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=worker_main,
            args=(child_conn, self._config),
            name=f"dreamloom-worker-{slot.index}",
            daemon=True,
        )
        process.start()
        child_conn.close()  # the child has its copy; ours would hide the child's EOF
        slot.worker = _Worker(slot.index, process, parent_conn, time.monotonic())

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception:  # the supervisor must outlive any one bad event
                log.exception("local executor supervisor error")
                time.sleep(_POLL_SECONDS)

    def _step(self) -> None:
        self._respawn_due()
        self._assign_pending()
        self._apply_cancels()
        workers = [s.worker for s in self._slots if s.worker is not None]
        waitables: list[Any] = [self._wake_r]
        for worker in workers:
            waitables += [worker.conn, worker.process.sentinel]
        for ready in wait(waitables, timeout=_POLL_SECONDS):
            if ready == self._wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
        for worker in workers:
            self._drain(worker)
        for worker in workers:
            if not worker.process.is_alive():
                self._drain(worker)  # a result sent just before exiting still counts
                self._worker_died(worker)
        self._flush_outbox()

    def _assign_pending(self) -> None:
        """Pending tasks to the workers with the least to compute, up to ``depth`` each."""
        with self._lock:
            while self._pending:
                ready = [
                    worker
                    for slot in self._slots
                    if (worker := slot.worker) is not None
                    and worker.computing < self._depth
                    and worker.finishing < self._finishing_cap
                ]
                if not ready:
                    return
                task = self._pending.popleft()
                # A worker that holds the task's model takes it before a less busy one
                # that would load it (seconds to minutes, and another model unloaded); among
                # the others, one holding fewer models (nothing of use to unload).
                worker = min(
                    ready,
                    key=lambda w: (task.backend_ref not in w.models, w.computing, len(w.models)),
                )
                _note_model(worker, task)
                device = self._slots[worker.slot].device
                if device is not None:
                    task = replace(task, device=device)
                ticket = next(self._tickets)
                if not worker.runs:
                    worker.last_heard = time.monotonic()  # the stall clock starts now
                worker.runs[ticket] = _Run(task)
                # OSError: it died; the sentinel check reports the task as failed.
                with contextlib.suppress(OSError):
                    worker.conn.send(("run", ticket, task))

    def _apply_cancels(self) -> None:
        now = time.monotonic()
        with self._lock:
            requests, self._cancel_requests = self._cancel_requests, set()
        for slot in self._slots:
            worker = slot.worker
            if worker is None or not worker.runs:
                continue
            for ticket, run in worker.runs.items():
                if run.task.job_id in requests and run.cancel_deadline is None:
                    run.cancel_deadline = now + self._cancel_grace_s
                    with contextlib.suppress(OSError):
                        worker.conn.send(("cancel", ticket))
            overdue = [
                run
                for run in worker.runs.values()
                if run.cancel_deadline is not None and now >= run.cancel_deadline
            ]
            if overdue and not worker.killed_for_cancel:
                log.warning(
                    "job %s ignored cancellation; killing its worker", overdue[0].task.job_id
                )
                worker.killed_for_cancel = True
                worker.process.kill()
            elif (
                self._stall_timeout_s is not None
                and not worker.killed_for_stall
                and now - worker.last_heard >= self._stall_timeout_s
            ):
                log.warning(
                    "worker %s sent nothing for %.0f s; killing it",
                    slot.index,
                    now - worker.last_heard,
                )
                worker.killed_for_stall = True
                worker.process.kill()

    def _drain(self, worker: _Worker) -> None:
        while True:
            try:
                if not worker.conn.poll():
                    return
                ticket, event = worker.conn.recv()
            except (EOFError, OSError):
                return
            run = worker.runs.get(ticket)
            if run is None:
                continue  # a stale message from a run already settled
            worker.last_heard = time.monotonic()
            run.heard = True
            if isinstance(event, TaskComputed):
                run.computed = True
            if isinstance(event, TaskResult | TaskFailure):
                del worker.runs[ticket]
            self._emit(event)

    def _worker_died(self, worker: _Worker) -> None:
        slot = self._slots[worker.slot]
        code = worker.process.exitcode
        worker.conn.close()
        if worker.runs:
            log.warning(
                "worker %s died (exit %s) holding %d task(s)", slot.index, code, len(worker.runs)
            )
        with self._lock:  # its tasks stop counting before anyone hears of their end
            slot.worker = None
        for run in worker.runs.values():
            self._emit(self._death_of(worker, run, code))
        # A worker that keeps dying on its own right after it starts (a broken environment)
        # is restarted with a growing delay instead of in a tight loop. Dying in a task is
        # the task's doing: replace the worker at once.
        lived = time.monotonic() - worker.spawned_at
        idle_early_death = not worker.runs and lived < 5.0
        slot.backoff = min(30.0, max(0.5, slot.backoff * 2)) if idle_early_death else 0.0
        slot.respawn_at = time.monotonic() + slot.backoff
        self.restarts += 1

    def _death_of(self, worker: _Worker, run: _Run, code: int | None) -> TaskFailure:
        """What a task held by a dead worker comes to: cancelled if it was asked to stop and
        the worker was killed for that; stalled (not retried: it would most likely hang
        again) if it was computing in a worker killed for silence; else a retryable failure,
        as for every task of a batch whose worker was killed."""
        job_id = run.task.job_id
        if worker.killed_for_cancel and run.cancel_deadline is not None:
            return TaskFailure(job_id, "cancelled", False, cancelled=True)
        if worker.killed_for_stall and run.heard:
            return TaskFailure(job_id, STALLED.format(seconds=self._stall_timeout_s), False)
        return TaskFailure(job_id, WORKER_DIED.format(code=code), True)

    def _respawn_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.worker is None and now >= slot.respawn_at and not self._stopping.is_set():
                self._spawn(slot)

    def _flush_outbox(self) -> None:
        with self._lock:
            events, self._outbox = self._outbox, []
        for event in events:
            self._emit(event)

    def _emit(self, event: ExecutorEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("executor event callback failed for %s", event.job_id)

    def _retire(self, worker: _Worker, timeout: float) -> None:
        with contextlib.suppress(OSError):
            worker.conn.send(None)
        worker.process.join(timeout if not worker.runs else 0.5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout)
        worker.conn.close()
