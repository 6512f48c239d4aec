"""SSE (``stream: true``): a job's events as ``data: {json}`` lines until it ends.

The stream opens with ``initialized`` (seq 0) and the job as created, then follows the job's
events from the event hub; ``seq`` counts up by one per line and ``ts`` is the time of day.
The hub's subscription starts after the submission returned, so events published in between
would be missed: the job is read back from the database right after subscribing (and while
the stream is quiet), and whatever is newer than what was sent goes out as an event of its
own. Events older than what was sent are skipped, so the client sees the status only move
forward. The stream ends after ``completed``, ``failed`` or ``moderated``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Final

from starlette.concurrency import run_in_threadpool

from dreamloom.api.context import ApiContext
from dreamloom.api.urls import Urls
from dreamloom.api.v3.jobs_view import LiveState, render_job
from dreamloom.domain import TERMINAL_STATUSES, JobStatus
from dreamloom.events import JobEvent
from dreamloom.service import JobView, ServiceError

EVENT_NAMES: Final[dict[str, str]] = {
    JobStatus.CREATED: "midjourney_created",
    JobStatus.STARTED: "midjourney_started",
    JobStatus.PROGRESS: "midjourney_progress",
    JobStatus.COMPLETED: "midjourney_completed",
    JobStatus.FAILED: "midjourney_failed",
    JobStatus.MODERATED: "midjourney_moderated",
}
_RANK: Final[dict[str, int]] = {JobStatus.CREATED: 0, JobStatus.STARTED: 1, JobStatus.PROGRESS: 2}
TERMINAL: Final = frozenset(TERMINAL_STATUSES)
# A quiet stream gets a comment line this often (proxies close idle connections) and reads
# the job back from the database (events of jobs run by another process).
KEEPALIVE_SECONDS: Final = 10.0


def _ts() -> str:
    now = datetime.now(UTC)
    return now.strftime("%H:%M:%S.") + f"{now.microsecond // 1000:03d}"


def _line(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _order(status: str, progress: int) -> tuple[int, int]:
    return (_RANK.get(status, 3), progress)


class JobStream:
    """The SSE body of one job."""

    def __init__(self, ctx: ApiContext, view: JobView, urls: Urls) -> None:
        self._ctx = ctx
        self._view = view
        self._urls = urls
        self._seq = 0
        self._sent: tuple[int, int] = (-1, -1)

    def _event(self, view: JobView, live: LiveState) -> bytes:
        self._seq += 1
        self._sent = _order(live.status, live.progress)
        job = render_job(view, self._urls, live)
        return _line({"event": EVENT_NAMES[live.status], "job": job, "seq": self._seq, "ts": _ts()})

    async def _reload(self) -> JobView | None:
        try:
            return await run_in_threadpool(self._ctx.service.get_job, self._view.id)
        except ServiceError:
            return None

    async def body(self) -> AsyncIterator[bytes]:
        job_id = self._view.id
        queue = self._ctx.hub.subscribe(job_id)
        try:
            yield _line(
                {
                    "event": "initialized",
                    "message": "Stream initialized",
                    "jobId": job_id,
                    "seq": 0,
                    "ts": _ts(),
                }
            )
            yield self._event(self._view, LiveState(JobStatus.CREATED))
            catch_up = True  # right after subscribing, and whenever the stream was quiet
            while True:
                if catch_up:
                    catch_up = False
                    line = await self._catch_up()
                    if line is not None:
                        yield line
                        if self._view.status in TERMINAL:
                            return
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    catch_up = True  # events may come from another process's dispatcher
                    continue
                line = await self._on_event(event)
                if line is not None:
                    yield line
                    if event.status in TERMINAL:
                        return
        finally:
            self._ctx.hub.unsubscribe(job_id, queue)

    async def _catch_up(self) -> bytes | None:
        """The job as stored, as an event, when it is further on than what was sent."""
        current = await self._reload()
        if current is None:
            return None
        self._view = current
        if _order(current.status, current.progress) <= self._sent:
            return None
        return self._event(current, _live(current))

    async def _on_event(self, event: JobEvent) -> bytes | None:
        if _order(event.status, event.progress) <= self._sent:
            return None  # already said (or older than what was said)
        live = LiveState(event.status, event.progress, event.error, event.preview_path, event.ts)
        if event.status != JobStatus.PROGRESS:
            # Status changes need the job as stored (images, buttons, error); a progress
            # event only moves the percentage and the preview.
            reloaded = await self._reload()
            if reloaded is not None:
                self._view = reloaded
        return self._event(self._view, live)


def _live(view: JobView) -> LiveState:
    return LiveState(view.status, view.progress, view.error, view.preview_path)
