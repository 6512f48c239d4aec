"""The job event bus, brought to asyncio: one thread reads the bus, the event loop fans out.

``EventBus`` is thread-based (its ``get`` blocks). A thread per SSE stream would cap the
streams one server holds at the thread pool's size, so a single pump thread reads every event
and hands batches to the loop (``call_soon_threadsafe``), where each stream waits on its own
``asyncio.Queue``: a stream costs a queue, not a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from dreamloom.events import EventBus, JobEvent

log = logging.getLogger(__name__)

_PUMP_TIMEOUT = 0.5
_BATCH = 512


class EventHub:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._streams: dict[str, set[asyncio.Queue[JobEvent]]] = {}
        # The web app's feeds: every event of an account's jobs.
        self._accounts: dict[int, set[asyncio.Queue[JobEvent]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        subscription = self._bus.subscribe(None)

        def pump() -> None:
            try:
                while not self._stop.is_set():
                    batch = subscription.get_many(timeout=_PUMP_TIMEOUT, limit=_BATCH)
                    if not batch:
                        continue
                    with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
                        loop.call_soon_threadsafe(self._fan_out, batch)
            finally:
                subscription.close()

        self._thread = threading.Thread(target=pump, name="dreamloom-event-hub", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2 * _PUMP_TIMEOUT + 1)

    # -- on the event loop -------------------------------------------------------------------

    def subscribe(self, job_id: str) -> asyncio.Queue[JobEvent]:
        queue: asyncio.Queue[JobEvent] = asyncio.Queue()
        self._streams.setdefault(job_id, set()).add(queue)
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[JobEvent]) -> None:
        queues = self._streams.get(job_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._streams[job_id]

    def subscribe_account(self, account_id: int) -> asyncio.Queue[JobEvent]:
        queue: asyncio.Queue[JobEvent] = asyncio.Queue()
        self._accounts.setdefault(account_id, set()).add(queue)
        return queue

    def unsubscribe_account(self, account_id: int, queue: asyncio.Queue[JobEvent]) -> None:
        queues = self._accounts.get(account_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._accounts[account_id]

    @property
    def streams(self) -> int:
        return sum(len(q) for q in self._streams.values()) + sum(
            len(q) for q in self._accounts.values()
        )

    def _fan_out(self, batch: list[JobEvent]) -> None:
        for event in batch:
            for queue in self._streams.get(event.job_id, ()):
                queue.put_nowait(event)
            for queue in self._accounts.get(event.account_id, ()):
                queue.put_nowait(event)
