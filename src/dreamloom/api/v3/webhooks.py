"""Webhooks (``replyUrl``): every event of a job POSTed to the job's and its channel's URL.

Decisions where the reference is silent:

- The body is the job object (the reference's "Job Response Model"), as GET /jobs/{jobid}
  would return it at that event; the event name and a per-job sequence number travel in the
  ``X-Dreamloom-Event`` and ``X-Dreamloom-Seq`` headers.
- A job's ``replyUrl`` and its channel's ``replyUrl`` both receive the events (once when
  they are the same URL); ``replyLevel`` filters for both.
- Delivery is ordered per job and per URL: an event is sent after the previous one was
  answered (2xx) or given up on. A failed POST (network error, non-2xx) is retried with
  exponential backoff, ``webhook_attempts`` times in all; then that event is dropped and the
  next one goes. Nothing here ever changes a job or slows its run: events are taken off the
  event hub into memory queues and sent by tasks of their own.
- Each job's webhooks are sent by one process: the one that accepted it, or for jobs queued
  where no webhook worker runs (a CLI command) the dispatching one. An API process of a
  multi-process server hears every job's events (relayed) but leaves the others' jobs alone.
- URLs are checked like image URLs (http(s), no private, loopback or link-local address
  unless the operator allows it) at every attempt, and the POST goes to the address that was
  checked (``safety.outbound``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from starlette.concurrency import run_in_threadpool

from dreamloom.api.urls import Urls
from dreamloom.api.v3.jobs_view import LiveState, render_job
from dreamloom.api.v3.streaming import EVENT_NAMES
from dreamloom.events import JobEvent
from dreamloom.safety import FetchError, FetchPolicy
from dreamloom.safety.outbound import post_json
from dreamloom.service import JobView, Service, ServiceError

log = logging.getLogger(__name__)

LEVELS: Final = {
    "all": frozenset({"created", "started", "progress", "completed", "failed", "moderated"}),
    "standard": frozenset({"created", "completed", "failed", "moderated"}),
    "minimal": frozenset({"completed", "failed", "moderated"}),
}
# Jobs whose targets are remembered at once (a bound on memory for abandoned entries).
_MAX_TRACKED: Final = 100_000


@dataclass
class _Targets:
    urls: tuple[str, ...]
    level: str
    base_url: str
    seq: int = 0
    queue: asyncio.Queue[tuple[str, int, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    sender: asyncio.Task[None] | None = None


class WebhookWorker:
    def __init__(
        self, service: Service, urls: Callable[[str], Urls], default_base: Callable[[], str]
    ) -> None:
        """``urls(base)`` builds the links for a base URL; ``default_base()`` is the base for
        jobs this process did not see submitted."""
        self._service = service
        self._make_urls = urls
        self._default_base = default_base
        settings = service.settings
        self._attempts = max(1, settings.webhook_attempts)
        self._backoff = max(0.0, settings.webhook_backoff_s)
        self._policy = FetchPolicy(
            allow_private=settings.allow_private_urls,
            allowed_hosts=frozenset(settings.allowed_hosts),
            timeout_s=settings.webhook_timeout_s,
        )
        # job id -> targets, or None for a job known to have no webhook.
        self._jobs: dict[str, _Targets | None] = {}
        self._inbox: asyncio.Queue[JobEvent] = asyncio.Queue()
        self._router: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0

    async def start(self) -> None:
        self._router = asyncio.create_task(self._route(), name="webhook-router")

    async def stop(self) -> None:
        tasks = [t.sender for t in self._jobs.values() if t is not None and t.sender]
        if self._router is not None:
            tasks.append(self._router)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- registration and events (on the event loop) -----------------------------------------

    def register(self, view: JobView, channel_url: str | None, base_url: str) -> None:
        """What the submitting request knows: the job's webhook targets (or that it has none),
        so that its events need no database look-up."""
        urls = [u for u in (view.request.get("replyUrl"), channel_url) if u]
        unique = tuple(dict.fromkeys(str(u) for u in urls))
        if len(self._jobs) > _MAX_TRACKED:
            self._forget_finished()
        if not unique:
            self._jobs.setdefault(view.id, None)
            return
        if self._jobs.get(view.id) is None:
            level = str(view.request.get("replyLevel") or "all")
            self._jobs[view.id] = _Targets(unique, level, base_url)

    def on_event(self, event: JobEvent) -> None:
        self._inbox.put_nowait(event)

    async def _route(self) -> None:
        while True:
            event = await self._inbox.get()
            try:
                await self._route_one(event)
            except Exception:
                log.exception("webhook routing failed for job %s", event.job_id)

    async def _route_one(self, event: JobEvent) -> None:
        if event.job_id not in self._jobs:
            if event.relayed:
                return  # another process accepted it and delivers its webhooks
            # Not registered yet (the event came first), a CLI command's, or before a restart.
            await self._discover(event.job_id)
        targets = self._jobs.get(event.job_id)
        if targets is None:
            if event.terminal:
                self._jobs.pop(event.job_id, None)
            return
        if event.status in LEVELS.get(targets.level, LEVELS["all"]):
            view = await self._view(event.job_id)
            if view is not None:
                live = LiveState(
                    event.status, event.progress, event.error, event.preview_path, event.ts
                )
                body = render_job(view, self._make_urls(targets.base_url), live)
                targets.seq += 1
                targets.queue.put_nowait((EVENT_NAMES[event.status], targets.seq, body))
                if targets.sender is None:
                    targets.sender = asyncio.create_task(self._send_all(event.job_id, targets))
        if event.terminal:
            targets.queue.put_nowait(("", -1, {}))  # the sender ends after the last one

    async def _discover(self, job_id: str) -> None:
        view = await self._view(job_id)
        if view is None:
            self._jobs[job_id] = None
            return
        channel_url = await run_in_threadpool(self._service.channel_reply_url, view.channel)
        self.register(view, channel_url, self._default_base())

    async def _view(self, job_id: str) -> JobView | None:
        try:
            return await run_in_threadpool(self._service.get_job, job_id)
        except ServiceError:
            return None

    def _forget_finished(self) -> None:
        for job_id in [j for j, t in self._jobs.items() if t is None or t.sender is None]:
            del self._jobs[job_id]

    # -- delivery ----------------------------------------------------------------------------

    async def _send_all(self, job_id: str, targets: _Targets) -> None:
        try:
            while True:
                name, seq, body = await targets.queue.get()
                if seq < 0:
                    return
                for url in targets.urls:
                    await self._deliver(url, name, seq, body)
        finally:
            self._jobs.pop(job_id, None)

    async def _deliver(self, url: str, name: str, seq: int, body: dict[str, Any]) -> None:
        headers = {"X-Dreamloom-Event": name, "X-Dreamloom-Seq": str(seq)}
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                status = await post_json(url, body, headers, self._policy)
                if 200 <= status < 300:
                    self.delivered += 1
                    return
                reason = f"HTTP {status}"
            except FetchError as err:
                log.warning("webhook %s refused: %s", url, err)
                self.failed += 1
                return  # a URL we may not call does not become callable by retrying
            except httpx.HTTPError as err:
                reason = type(err).__name__
            if attempt < self._attempts:
                log.info("webhook %s: %s; retry %d in %.1fs", url, reason, attempt, delay)
                await asyncio.sleep(delay)
                delay *= 2
        log.warning("webhook %s: giving up on %s #%d", url, name, seq)
        self.failed += 1
