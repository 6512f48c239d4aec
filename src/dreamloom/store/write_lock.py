"""One SQLite writer at a time, handed over at once, and a bounded wait for it."""

from __future__ import annotations

import fcntl
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from dreamloom.store.errors import StoreBusy

# The write lock's file and the database's: this user only (the data directory is 0700).
PRIVATE_FILE_MODE = 0o600
# How long a writer waits for the write lock (another writer, a backup) before StoreBusy.
DEFAULT_TIMEOUT_S = 10.0


class SQLiteWriteLock:
    """One SQLite writer at a time, handed over at once: between this process's threads by a
    lock, and between processes by ``flock`` on a file beside the database (a waiter wakes
    when the holder lets go). Left to SQLite, each waiter would sleep in its busy handler, up
    to 100 ms a nap, and poll. Re-entrant, like the write sessions that nest.

    A writer waits at most ``timeout_s`` and then raises :class:`StoreBusy`: a process that
    holds the lock for minutes (stuck, or an operator's transaction) must not hold every
    request with it. A blocking ``flock`` can be neither interrupted nor given a timeout, so
    a contended one is waited for by a thread of its own (``_FlockWaiter``)."""

    def __init__(self, database: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._threads = threading.RLock()
        self._path = f"{database}-writelock" if database not in (None, "", ":memory:") else None
        self._fd: int | None = None
        self._depth = 0
        self._timeout = timeout_s
        self._waiter = _FlockWaiter()

    def __enter__(self) -> None:
        deadline = time.monotonic() + self._timeout
        if not self._threads.acquire(timeout=self._timeout):
            raise StoreBusy(self._timeout)
        try:
            if self._depth == 0 and self._path is not None:
                self._lock_file(deadline)
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1

    def _lock_file(self, deadline: float) -> None:
        if self._fd is None:
            self._fd = os.open(self._path or "", os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return  # not contended: the usual case, no thread involved
        except BlockingIOError:
            pass
        if not self._waiter.lock(self._fd, max(0.0, deadline - time.monotonic())):
            self._fd = None  # the waiter closes it once it has the lock (and lets go)
            raise StoreBusy(self._timeout)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None and self._depth == 0:
                os.close(self._fd)
                self._fd = None
        self._waiter.stop()


@dataclass
class _Wait:
    fd: int
    done: threading.Event = field(default_factory=threading.Event)
    state: threading.Lock = field(default_factory=threading.Lock)
    abandoned: bool = False
    error: OSError | None = None


class _FlockWaiter:
    """Blocking ``flock`` calls made by one thread, for callers that may stop waiting.

    A caller that gives up leaves its file descriptor here: when its turn comes, the lock
    is let go at once and the descriptor closed. Started at the first contended wait."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[_Wait | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def lock(self, fd: int, timeout: float) -> bool:
        """Take the lock on ``fd`` within ``timeout`` seconds; False: gave up (``fd`` is
        this waiter's now)."""
        wait = _Wait(fd)
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="dreamloom-writelock", daemon=True
                )
                self._thread.start()
        self._requests.put(wait)
        wait.done.wait(timeout)
        with wait.state:
            if not wait.done.is_set():
                wait.abandoned = True
                return False
        if wait.error is not None:
            raise wait.error
        return True

    def _run(self) -> None:
        while (wait := self._requests.get()) is not None:
            error: OSError | None = None
            try:
                fcntl.flock(wait.fd, fcntl.LOCK_EX)
            except OSError as exc:
                error = exc
            with wait.state:
                if wait.abandoned:
                    if error is None:
                        fcntl.flock(wait.fd, fcntl.LOCK_UN)
                    os.close(wait.fd)
                else:
                    wait.error = error
                    wait.done.set()

    def stop(self) -> None:
        with self._start:
            if self._thread is not None:
                self._requests.put(None)  # after any abandoned wait still queued
                self._thread = None
