"""The delivery worker: sends the outbox's entries (``store.outbox``), at least once, in order.

It runs in the process that dispatches (the holder of the dispatcher lock), never in HTTP
code, so every entry written by any process over the data directory is sent by exactly one
worker, also after a crash or a restart: an entry stays pending until it is answered or given
up on. Its own thread runs an asyncio loop:

- The first pending entry of each (job, target) lane is due when its next attempt time has
  come; a lane's later entries wait until it was answered or given up on, so a receiver sees
  a job's events in order. Lanes are sent concurrently (up to ``MAX_IN_FLIGHT``): one slow
  receiver holds up only its own lane.
- A failed attempt (a network error, a non-2xx answer, the time limit) is tried again after
  ``webhook_backoff_s``, doubling each time, ``webhook_attempts`` attempts in all; a URL the
  address rules refuse is given up on at once (retrying does not make it callable).
- It looks for due entries when woken (a commit in this process that wrote entries, a wake-up
  relayed from another process) and every ``POLL_SECONDS`` besides.
- Lanes whose last event (the job's end) was settled are pruned after
  ``delivery_retention_s``.

The body is rendered when the entry is sent, from the job as it is then and the entry's
status, progress and error, by the ``Renderer`` its wiring gives it: the service does not know
the API's shapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx

from dreamloom.config import Settings
from dreamloom.domain import DeliveryKind
from dreamloom.safety import FetchError, FetchPolicy
from dreamloom.safety.outbound import post_json
from dreamloom.service.views import JobView
from dreamloom.store import outbox
from dreamloom.store.db import Database
from dreamloom.store.outbox import Entry, Lane
from dreamloom.store.types import utcnow

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 1.0
MAX_IN_FLIGHT: Final = 32
PRUNE_SECONDS: Final = 60.0


@dataclass(frozen=True)
class DeliveryEvent:
    """What an entry says about its job at its moment (the job may have moved on since)."""

    status: str
    progress: int
    error: str | None
    preview_path: str | None
    at: datetime


# (the job as it is now, the event) -> (the event's name, the JSON body a receiver gets).
Renderer = Callable[[JobView, DeliveryEvent], tuple[str, dict[str, Any]]]
ViewReader = Callable[[str], JobView | None]


def backoff_delay(first_delay: float, failed_attempts: int, longest: float) -> float:
    """Seconds before the next attempt after ``failed_attempts`` failures (1, 2, ...):
    doubling from ``first_delay``, never more than ``longest``."""
    return float(min(longest, first_delay * 2 ** min(64, max(0, failed_attempts - 1))))


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        view_of: ViewReader,
        render: Renderer,
        *,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``view_of(job_id)``: the job's view, None once it is gone; ``transport`` replaces
        the network (tests)."""
        self._db = db
        self._view_of = view_of
        self._render = render
        self._clock = clock
        self._transport = transport
        self._attempts = max(1, settings.webhook_attempts)
        self._backoff = max(0.0, settings.webhook_backoff_s)
        self._longest_backoff = settings.webhook_backoff_max_s
        self._retention = timedelta(seconds=max(0.0, settings.delivery_retention_s))
        self._policy = FetchPolicy(
            allow_private=settings.allow_private_urls,
            allowed_hosts=frozenset(settings.allowed_hosts),
            timeout_s=settings.webhook_timeout_s,
        )
        self._lanes: dict[Lane, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.delivered = 0
        self.given_up = 0

    # -- lifecycle (any thread) ------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="dreamloom-deliveries", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sending; entries in flight stay pending and go out after the next start."""
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look for due entries now (thread-safe; cheap when nothing is waiting)."""
        loop, woken = self._loop, self._woken
        if loop is not None and woken is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(woken.set)

    # -- the loop ------------------------------------------------------------------------------

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        self._ready.set()
        next_prune = 0.0
        try:
            while not self._stopping.is_set():
                self._woken.clear()
                await self._start_due()
                if self._loop.time() >= next_prune:
                    await self._guarded(self._prune)
                    next_prune = self._loop.time() + PRUNE_SECONDS
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), POLL_SECONDS)
        finally:
            for task in self._lanes.values():
                task.cancel()
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)

    async def _guarded(self, work: Callable[[], object]) -> object:
        try:
            return await asyncio.to_thread(work)
        except Exception:
            log.exception("delivery worker: database error")
            return None

    async def _start_due(self) -> None:
        room = MAX_IN_FLIGHT - len(self._lanes)
        if room <= 0:
            return
        busy = list(self._lanes)
        due = await self._guarded(lambda: self._due(room, busy))
        for entry in due if isinstance(due, list) else ():
            task = asyncio.create_task(self._send(entry), name=f"delivery-{entry.id}")
            self._lanes[entry.lane] = task

    def _due(self, room: int, busy: list[Lane]) -> list[Entry]:
        with self._db.session() as session:
            return outbox.due(session, self._clock(), limit=room, busy=busy)

    def _prune(self) -> None:
        with self._db.session(write=True) as session:
            outbox.prune(session, self._clock() - self._retention)

    # -- one entry -------------------------------------------------------------------------

    async def _send(self, entry: Entry) -> None:
        try:
            try:
                error, final = await self._attempt(entry)
            except Exception as exc:
                # Rendering or reading failed: an attempt like any other (with its backoff),
                # or a lasting fault would be retried at once, forever.
                log.exception("delivery of %s failed", entry.event_id)
                error, final = f"internal error: {type(exc).__name__}", False
            await self._guarded(lambda: self._settle(entry, error, final))
        finally:
            self._lanes.pop(entry.lane, None)
            if self._woken is not None:
                self._woken.set()  # the lane's next entry may go now

    async def _attempt(self, entry: Entry) -> tuple[str | None, bool]:
        """(error, final): None when delivered; ``final`` when retrying cannot help."""
        if entry.kind != DeliveryKind.WEBHOOK:
            return f"no sender for {entry.kind!r}", True
        prepared = await asyncio.to_thread(self._prepare, entry)
        if prepared is None:
            return "the job no longer exists", True
        name, body, seq = prepared
        headers = {
            "X-Dreamloom-Event": name,
            "X-Dreamloom-Event-Id": entry.event_id,
            "X-Dreamloom-Seq": str(seq),
        }
        try:
            status = await post_json(
                entry.address, body, headers, self._policy, transport=self._transport
            )
        except FetchError as err:
            return f"refused: {err}", True
        except TimeoutError:
            return f"no answer within {self._policy.timeout_s:g}s", False
        except (httpx.HTTPError, OSError) as err:
            return type(err).__name__, False
        if 200 <= status < 300:
            return None, False
        return f"HTTP {status}", False

    def _prepare(self, entry: Entry) -> tuple[str, dict[str, Any], int] | None:
        view = self._view_of(entry.job_id)
        if view is None:
            return None
        event = DeliveryEvent(
            entry.status, entry.progress, entry.error, entry.preview_path, entry.occurred
        )
        with self._db.session() as session:
            seq = outbox.position(session, entry)
        return (*self._render(view, event), seq)

    def _settle(self, entry: Entry, error: str | None, final: bool) -> None:
        now = self._clock()
        failures = entry.attempts + 1
        with self._db.session(write=True) as session:
            if error is None:
                outbox.mark_delivered(session, entry.id, now)
                self.delivered += 1
                return
            retry_at = None
            if not final and failures < self._attempts:
                delay = backoff_delay(self._backoff, failures, self._longest_backoff)
                retry_at = now + timedelta(seconds=delay)
            outbox.mark_failed(session, entry.id, now, error, retry_at)
        if retry_at is None:
            self.given_up += 1
            log.warning(
                "%s of job %s to %s: giving up (%s)",
                entry.status,
                entry.job_id,
                entry.address,
                error,
            )
        else:
            log.info("%s to %s: %s; retry %d", entry.status, entry.address, error, failures)
