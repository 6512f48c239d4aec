"""In-process job event bus: progress and status changes, to every interested listener.

The dispatcher publishes; SSE streams, webhooks, the Discord bot and the web page subscribe.
Thread-safe, no asyncio and no web framework inside. From asyncio code, block in a worker
thread::

    sub = bus.subscribe(job_id)
    try:
        while True:
            event = await asyncio.to_thread(sub.get, 1.0)   # None after 1 s of silence
            if event is None:
                continue        # (send an SSE keep-alive here)
            yield event
            if event.terminal:
                break
    finally:
        sub.close()

Every event gets the next number of one bus-wide sequence (``seq``), so the events of a job
are strictly increasing. A subscriber that does not keep up loses its oldest *progress*
events first (a status change is never dropped), so a stuck client cannot make the server run
out of memory.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol

from dreamloom.domain import TERMINAL_STATUSES, JobStatus


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JobEvent:
    job_id: str
    account_id: int
    status: str  # created | started | progress | completed | failed | moderated
    progress: int = 0  # percent
    error: str | None = None
    preview_path: str | None = None  # relative to the images directory
    preview_png: bytes | None = field(default=None, repr=False)
    seq: int = 0  # set by the bus: bus-wide, hence strictly increasing per job
    ts: datetime = field(default_factory=_now)
    relayed: bool = False  # published by another process (dreamloom.event_relay)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class Subscription:
    """A bounded mailbox of events. ``get`` blocks; ``close`` detaches it from the bus."""

    def __init__(self, bus: EventBus, job_id: str | None, maxsize: int) -> None:
        self.job_id = job_id
        self._bus = bus
        self._maxsize = maxsize
        self._items: deque[JobEvent] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0  # progress events discarded because the subscriber fell behind

    def get(self, timeout: float | None = None) -> JobEvent | None:
        """The next event; None on timeout or once closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def get_nowait(self) -> JobEvent | None:
        with self._cond:
            return self._items.popleft() if self._items else None

    def get_many(self, timeout: float | None = None, limit: int | None = None) -> list[JobEvent]:
        """The next event (waiting up to ``timeout``) and all that are waiting behind it, up
        to ``limit``: what a reader that forwards events in batches takes at once."""
        first = self.get(timeout)
        if first is None:
            return []
        batch = [first]
        while limit is None or len(batch) < limit:
            more = self.get_nowait()
            if more is None:
                break
            batch.append(more)
        return batch

    def close(self) -> None:
        self._bus._unsubscribe(self)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def _put(self, event: JobEvent) -> None:
        with self._cond:
            if self._closed:
                return
            if len(self._items) >= self._maxsize and not self._drop_one_progress(event):
                return
            self._items.append(event)
            self._cond.notify()

    def _drop_one_progress(self, incoming: JobEvent) -> bool:
        """Make room by dropping the oldest progress event; False to drop ``incoming``."""
        for i, queued in enumerate(self._items):
            if queued.status == JobStatus.PROGRESS:
                del self._items[i]
                self.dropped += 1
                return True
        if incoming.status == JobStatus.PROGRESS:
            self.dropped += 1
            return False
        return True  # status changes always get in, even past maxsize

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus:
    def __init__(self, *, subscriber_maxsize: int = 256) -> None:
        self._lock = threading.Lock()
        self._by_job: dict[str, list[Subscription]] = {}
        self._everything: list[Subscription] = []
        self._seq = itertools.count(1)
        self._maxsize = subscriber_maxsize

    def subscribe(self, job_id: str | None = None, *, maxsize: int | None = None) -> Subscription:
        """Events of one job, or of every job when ``job_id`` is None."""
        sub = Subscription(self, job_id, maxsize or self._maxsize)
        with self._lock:
            if job_id is None:
                self._everything.append(sub)
            else:
                self._by_job.setdefault(job_id, []).append(sub)
        return sub

    def publish(self, event: JobEvent) -> JobEvent:
        """Stamp ``seq`` and deliver; returns the stamped event."""
        with self._lock:
            stamped = replace(event, seq=next(self._seq))
            targets = [*self._by_job.get(event.job_id, ()), *self._everything]
            # Deliver under the lock: two publishers of the same job must not reorder seqs.
            for sub in targets:
                sub._put(stamped)
        return stamped

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._everything) + sum(len(s) for s in self._by_job.values())

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub.job_id is None:
                if sub in self._everything:
                    self._everything.remove(sub)
                return
            subs = self._by_job.get(sub.job_id)
            if subs and sub in subs:
                subs.remove(sub)
                if not subs:
                    del self._by_job[sub.job_id]


class _Job(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def account_id(self) -> int: ...


def publish_job_event(
    events: EventBus,
    job: _Job,
    status: str,
    *,
    progress: int = 0,
    error: str | None = None,
    preview_path: str | None = None,
    preview_png: bytes | None = None,
) -> None:
    """Tell the bus that ``job`` reached ``status``: the one way the dispatcher and the
    service announce a job."""
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
