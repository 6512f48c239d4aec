"""The code that runs inside a worker process: one model, fed batch after batch.

Kept free of the database and the server's imports: a spawned worker imports only this module,
the runner it is told to use, and what that runner needs.

Three kinds of threads share the work, so that the model (a GPU) never waits for the CPU:

- the *receiver* reads the pipe: tasks go into the inbox, cancellations are noted;
- the *compute loop* (the main thread) takes the tasks waiting in the inbox whose batch slots
  match, as many as ``batch_images`` holds, and runs them as one batch;
- the *finishing stage* (``finishing.Finisher``) moderates, encodes and writes each task's
  pictures, and sends its result, while the compute loop is on the next batch.

Protocol over the worker's pipe (parent -> worker): ``("run", ticket, Task)``, ``("cancel",
ticket)``, and ``None`` to exit once the work in hand is finished. Worker -> parent: ``(ticket,
TaskProgress | TaskComputed | TaskResult | TaskFailure)``; ``TaskComputed`` says the model is
done with a task (the parent may send the next). A ticket identifies one run of one task.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection

from dreamloom.jobs.executor.base import (
    BatchSlot,
    ExecutorEvent,
    Runner,
    RunOutcome,
    Task,
    TaskCalls,
    TaskComputed,
    TaskFailure,
    TaskProgress,
    load_runner,
)
from dreamloom.jobs.executor.finishing import Finisher


@dataclass(frozen=True)
class WorkerConfig:
    batch_images: int = 4  # the most images one batch holds (a grid job has 4)
    finishing_threads: int = 2  # threads of the finishing stage (the cores, usually)


@dataclass
class _Entry:
    ticket: int
    task: Task
    slot: BatchSlot | None = None
    slotted: bool = False  # ``slot`` was worked out (None is a valid answer)


class _Link:
    """The worker's end of the pipe, written by several threads."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, ticket: int, event: ExecutorEvent) -> None:
        with self._lock:
            self.conn.send((ticket, event))

    def progress(
        self, ticket: int, job_id: str, step: int, total: int, preview: bytes | None
    ) -> None:
        self.send(ticket, TaskProgress(job_id, step, total, preview))


@dataclass
class _Inbox:
    """Tasks received and not yet taken by the compute loop, and the tickets cancelled."""

    entries: deque[_Entry] = field(default_factory=deque)
    cancelled: set[int] = field(default_factory=set)
    closed: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)

    def put(self, entry: _Entry) -> None:
        with self.changed:
            self.entries.append(entry)
            self.changed.notify()

    def cancel(self, ticket: int) -> _Entry | None:
        """Note a cancellation; the task's entry if it was still waiting (then it is out)."""
        with self.changed:
            self.cancelled.add(ticket)
            for entry in self.entries:
                if entry.ticket == ticket:
                    self.entries.remove(entry)
                    return entry
        return None

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify()

    def is_cancelled(self, ticket: int) -> bool:
        return ticket in self.cancelled

    def waiting(self) -> list[_Entry] | None:
        """The entries waiting (blocks until there is one); None once closed and empty."""
        with self.changed:
            while not self.entries and not self.closed:
                self.changed.wait()
            return list(self.entries) if self.entries else None

    def claim(self, chosen: list[_Entry]) -> list[_Entry]:
        """Take ``chosen`` out; those cancelled since ``waiting`` are left out."""
        with self.changed:
            taken = [entry for entry in chosen if entry in self.entries]
            for entry in taken:
                self.entries.remove(entry)
            return taken


class _Worker:
    def __init__(self, conn: Connection, config: WorkerConfig) -> None:
        self.config = config
        self.link = _Link(conn)
        self.inbox = _Inbox()
        self.finisher = Finisher(config.finishing_threads)
        self.runners: dict[str, Runner] = {}

    def receive(self) -> None:
        """The receiver thread: the pipe into the inbox, until the parent says stop or goes."""
        while True:
            try:
                message = self.link.conn.recv()
            except (EOFError, OSError):
                break  # the parent is gone
            if message is None:
                break
            if message[0] == "run":
                _, ticket, task = message
                self.inbox.put(_Entry(ticket, task))
            elif message[0] == "cancel":
                entry = self.inbox.cancel(message[1])
                if entry is not None:  # it never started: it ends now, at no cost
                    stopped = TaskFailure(entry.task.job_id, "cancelled", False, cancelled=True)
                    self._send(entry.ticket, stopped)
        self.inbox.close()

    def compute(self) -> None:
        """The compute loop: batch after batch until the inbox is closed and empty."""
        while (waiting := self.inbox.waiting()) is not None:
            batch = self.inbox.claim(self._batch(waiting))
            if batch:
                self._run(batch)
        self.finisher.close()

    def _batch(self, waiting: list[_Entry]) -> list[_Entry]:
        """The first waiting task, with the later ones of its slot key that fit beside it."""
        first = waiting[0]
        slot = self._slot(first)
        if slot is None:
            return [first]
        batch, room = [first], self.config.batch_images - slot.images
        for entry in waiting[1:]:
            other = self._slot(entry)
            if other is not None and other.key == slot.key and other.images <= room:
                batch.append(entry)
                room -= other.images
        return batch

    def _slot(self, entry: _Entry) -> BatchSlot | None:
        if not entry.slotted:
            entry.slotted = True
            try:
                runner = self._runner(entry.task.runner)
                slot = runner.batch_slot(entry.task)
            except Exception:  # it runs alone, and its run reports the error
                slot = None
            # Tasks of different runners never share a batch.
            if slot is not None:
                entry.slot = BatchSlot((entry.task.runner, slot.key), slot.images)
        return entry.slot

    def _runner(self, path: str) -> Runner:
        runner = self.runners.get(path)
        if runner is None:
            runner = self.runners[path] = load_runner(path)
        return runner

    def _run(self, batch: list[_Entry]) -> None:
        tasks = [entry.task for entry in batch]
        stops = _Stops(self, batch)
        calls = [
            TaskCalls(
                partial(self.link.progress, entry.ticket, entry.task.job_id),
                partial(stops.cancelled, entry),
            )
            for entry in batch
        ]
        outcomes: list[RunOutcome]
        try:
            runner = self._runner(tasks[0].runner)
        except Exception as exc:  # a misconfigured runner fails its jobs, not the worker
            outcomes = [RuntimeError(f"cannot load runner: {exc}")] * len(batch)
        else:
            try:
                outcomes = runner.run(tasks, calls)
            except Exception as exc:
                outcomes = [exc] * len(batch)
            if len(outcomes) != len(batch):
                error = RuntimeError(f"the runner answered {len(outcomes)} of {len(batch)} tasks")
                outcomes = [error] * len(batch)
        for entry, outcome in zip(batch, outcomes, strict=True):
            if entry.ticket in stops.answered:
                continue  # it ended when its cancellation was seen
            self._send(entry.ticket, TaskComputed(entry.task.job_id))
            self.finisher.submit(entry.task, outcome, partial(self._send, entry.ticket))

    def _send(self, ticket: int, event: ExecutorEvent) -> None:
        self.link.send(ticket, event)


class _Stops:
    """Cancellations within one batch. Once a runner's ``cancelled()`` has answered True for
    a task, the task is over: it fails as cancelled at once, charged its share of the time
    the batch has run so far, while the others of its batch go on (the runner drops its
    rows, or computes them for nothing, but nobody waits for them)."""

    def __init__(self, worker: _Worker, batch: list[_Entry]) -> None:
        self.worker = worker
        self.started = time.perf_counter()
        weights = [entry.slot.images if entry.slot is not None else 1 for entry in batch]
        self.shares = {
            entry.ticket: weight / sum(weights)
            for entry, weight in zip(batch, weights, strict=True)
        }
        self.answered: set[int] = set()

    def cancelled(self, entry: _Entry) -> bool:
        if not self.worker.inbox.is_cancelled(entry.ticket):
            return False
        if entry.ticket not in self.answered:
            self.answered.add(entry.ticket)
            seconds = (time.perf_counter() - self.started) * self.shares[entry.ticket]
            stopped = TaskFailure(
                entry.task.job_id, "cancelled", False, cancelled=True, compute_seconds=seconds
            )
            self.worker.link.send(entry.ticket, stopped)
        return True


def worker_main(conn: Connection, config: WorkerConfig) -> None:
    # Ctrl-C in the server's terminal reaches the whole process group; the parent decides
    # how to shut down, the worker must not die with a traceback half-way through a job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker = _Worker(conn, config)
    receiver = threading.Thread(target=worker.receive, name="dreamloom-receiver", daemon=True)
    receiver.start()
    worker.compute()
