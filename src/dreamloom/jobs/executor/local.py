"""The local executor: worker processes on this machine.

Each worker is a process started with the "spawn" method (no inherited threads, locks or CUDA
state) that keeps its model loaded between tasks. One supervisor thread owns all the pipes:
it hands tasks to idle workers, relays their messages, and watches their process sentinels.

A worker that dies (killed, segfault, out of memory) is noticed through its sentinel; the task
it was running is reported as a retryable failure and a fresh worker takes its place. A
cancelled task that does not stop within ``cancel_grace_s`` gets its worker killed, and so does
a task that sends nothing (no progress, no result) for ``stall_timeout_s``: a hung driver or a
deadlocked library must not hold a slot, and its job, for ever.
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
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from dreamloom.jobs.executor.base import (
    EventCallback,
    ExecutorEvent,
    Task,
    TaskFailure,
    TaskResult,
)
from dreamloom.jobs.executor.worker import worker_main

log = logging.getLogger(__name__)

WORKER_DIED = "The worker process stopped unexpectedly (exit code {code}) while running this job"
STALLED = "The job made no progress for {seconds:g} seconds; its worker was stopped"

_POLL_SECONDS = 0.5


@dataclass
class _Worker:
    slot: int
    process: BaseProcess
    conn: Connection
    cancel_ticket: Any  # a shared multiprocessing Value("q")
    spawned_at: float
    ticket: int | None = None
    task: Task | None = None
    cancel_deadline: float | None = None
    killed_for_cancel: bool = False
    last_heard: float = 0.0  # when the running task last sent anything
    killed_for_stall: bool = False


@dataclass
class _Slot:
    """A place for one worker; survives the workers that come and go in it."""

    index: int
    worker: _Worker | None = None
    respawn_at: float = 0.0
    backoff: float = 0.0


class LocalExecutor:
    def __init__(
        self,
        workers: int = 1,
        *,
        queue: int = 0,
        cancel_grace_s: float = 10.0,
        stall_timeout_s: float | None = None,
    ) -> None:
        """``queue``: tasks accepted per worker beyond the one it runs (they wait here and go
        to the first worker free); ``stall_timeout_s``: kill a worker whose task sent nothing
        for this long (None or 0: never). The first task of a worker also loads the model, so
        leave room for that."""
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if queue < 0:
            raise ValueError("queue must be >= 0")
        self._capacity = workers * (1 + queue)
        self._stall_timeout_s = stall_timeout_s or None
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i) for i in range(workers)]
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
        return self._capacity

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
            busy = sum(1 for s in self._slots if s.worker is not None and s.worker.task)
            if busy + len(self._pending) >= self._capacity:
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
                    s.worker is not None and s.worker.task and s.worker.task.job_id == job_id
                    for s in self._slots
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
        cancel_ticket = self._ctx.Value("q", 0)
        process = self._ctx.Process(
            target=worker_main,
            args=(child_conn, cancel_ticket),
            name=f"dreamloom-worker-{slot.index}",
            daemon=True,
        )
        process.start()
        child_conn.close()  # the child has its copy; ours would hide the child's EOF
        slot.worker = _Worker(slot.index, process, parent_conn, cancel_ticket, time.monotonic())

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
        with self._lock:
            for slot in self._slots:
                worker = slot.worker
                if not self._pending or worker is None or worker.task is not None:
                    continue
                task = self._pending.popleft()
                worker.ticket = next(self._tickets)
                worker.task = task
                worker.cancel_deadline = None
                worker.last_heard = time.monotonic()
                # OSError: it died; the sentinel check reports the task as failed.
                with contextlib.suppress(OSError):
                    worker.conn.send((worker.ticket, task))

    def _apply_cancels(self) -> None:
        now = time.monotonic()
        with self._lock:
            requests, self._cancel_requests = self._cancel_requests, set()
        for slot in self._slots:
            worker = slot.worker
            if worker is None or worker.task is None:
                continue
            if worker.task.job_id in requests and worker.cancel_deadline is None:
                worker.cancel_ticket.value = worker.ticket
                worker.cancel_deadline = now + self._cancel_grace_s
            elif worker.cancel_deadline is not None and now >= worker.cancel_deadline:
                log.warning("job %s ignored cancellation; killing its worker", worker.task.job_id)
                worker.killed_for_cancel = True
                worker.process.kill()
            elif (
                self._stall_timeout_s is not None
                and not worker.killed_for_stall
                and now - worker.last_heard >= self._stall_timeout_s
            ):
                log.warning(
                    "job %s sent nothing for %.0f s; killing its worker",
                    worker.task.job_id,
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
            if ticket != worker.ticket or worker.task is None:
                continue  # a stale message from a run already settled
            worker.last_heard = time.monotonic()
            if isinstance(event, TaskResult | TaskFailure):
                worker.task = None
                worker.ticket = None
                worker.cancel_deadline = None
            self._emit(event)

    def _worker_died(self, worker: _Worker) -> None:
        slot = self._slots[worker.slot]
        code = worker.process.exitcode
        worker.conn.close()
        if worker.task is not None:
            if worker.killed_for_cancel:
                event = TaskFailure(worker.task.job_id, "cancelled", False, cancelled=True)
            elif worker.killed_for_stall:
                # Not retried: a job that hangs once would most likely hang again.
                error = STALLED.format(seconds=self._stall_timeout_s)
                event = TaskFailure(worker.task.job_id, error, False)
            else:
                log.warning("worker %s died (exit %s) in %s", slot.index, code, worker.task.job_id)
                event = TaskFailure(worker.task.job_id, WORKER_DIED.format(code=code), True)
            self._emit(event)
        slot.worker = None
        # A worker that keeps dying on its own right after it starts (a broken environment)
        # is restarted with a growing delay instead of in a tight loop. Dying in a task is
        # the task's doing: replace the worker at once.
        lived = time.monotonic() - worker.spawned_at
        idle_early_death = worker.task is None and lived < 5.0
        slot.backoff = min(30.0, max(0.5, slot.backoff * 2)) if idle_early_death else 0.0
        slot.respawn_at = time.monotonic() + slot.backoff
        self.restarts += 1

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
        worker.process.join(timeout if worker.task is None else 0.5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout)
        worker.conn.close()
