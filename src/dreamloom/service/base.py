"""The service's core: lifecycle, the shared state every use-case needs, and job views.

One ``Service`` per process. The process that holds the data directory's dispatcher lock runs
the scheduler and the workers, and relays its job events to the other processes; any other
process over the same data directory (an API process of a multi-process server, a CLI command
while the server runs) only writes submissions into the shared queue, wakes the scheduler, and
hears the events of every job through ``dreamloom.event_relay``, so the scheduler stays the
single authority on order and limits.
"""

from __future__ import annotations

import fcntl
import io
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import IO, Any

from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from dreamloom.config import Settings
from dreamloom.engine import ModelInfo, model_info
from dreamloom.event_relay import RelayClient, RelayServer, relay_socket_path
from dreamloom.events import EventBus, publish_job_event
from dreamloom.jobs.balance import BALANCE_CACHE_SECONDS, FastBalanceCache
from dreamloom.jobs.buttons import SPLITS, action_of_job, buttons_for, result_kind
from dreamloom.jobs.dispatcher import Dispatcher
from dreamloom.jobs.executor.base import ENGINE_RUNNER, FAKE_RUNNER
from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.wiring import build_dispatcher
from dreamloom.prompt.versions import DEFAULT_VERSION
from dreamloom.safety.decodes import DecodeSlots
from dreamloom.service.deliveries import DeliveryWorker, Renderer
from dreamloom.service.errors import ServiceError
from dreamloom.service.views import AccountView, ImageView, JobView
from dreamloom.store import jobs_repo, outbox
from dreamloom.store.db import Database, upgrade
from dreamloom.store.files import ImageFiles
from dreamloom.store.jobs_repo import JobLike
from dreamloom.store.tables import Account, Job
from dreamloom.store.types import utcnow

RUNNERS = {
    "engine": ENGINE_RUNNER,
    "fake": FAKE_RUNNER,
    "instant": "dreamloom.jobs.executor.instant:run",
}


class _DispatcherLock:
    """An exclusive, non-blocking lock on a file in the data directory; released on exit."""

    def __init__(self, path: os.PathLike[str]) -> None:
        self._path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # one made 0644 before the data directory's files were private
        handle = os.fdopen(fd, "r+")  # held for the process's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


class ServiceBase:
    """State and helpers shared by the use-case mixins of :class:`dreamloom.service.Service`."""

    def __init__(
        self, settings: Settings, *, dispatch: bool = True, renderer: Renderer | None = None
    ) -> None:
        """``renderer``: the body of a webhook (a client's shape, given by its wiring);
        without one this process sends no deliveries even when it dispatches."""
        self.settings = settings
        self._renderer = renderer
        self._deliveries: DeliveryWorker | None = None
        self._want_dispatch = dispatch and settings.dispatch
        self.db = Database(
            settings.resolved_database_url(), busy_timeout_s=settings.database_busy_timeout_s
        )
        self.files = ImageFiles(settings.images_dir)
        self.plans = PlanBook.load(settings.plans_file)
        # Shared with this process's dispatcher, which takes its charges off at once: admission
        # here then sees every charge. Elsewhere (an API process) a balance is at most
        # BALANCE_CACHE_SECONDS old, and the dispatcher checks again before a fast job starts.
        self._fast_balances = FastBalanceCache(self.plans, ttl=BALANCE_CACHE_SECONDS)
        self.events = EventBus()
        self.model: ModelInfo = model_info(settings.model, settings.models_dir)
        # Every decode of a user's picture (uploads, URLs, blend inputs, region masks) takes a
        # slot: a burst of requests costs at most this many decoded pictures of memory.
        self.decodes = DecodeSlots(settings.image_decodes)
        self._lock = _DispatcherLock(settings.data_dir / "dispatcher.lock")
        self._dispatcher: Dispatcher | None = None
        self._relay_server: RelayServer | None = None
        self._relay: RelayClient | None = None
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self.settings.ensure_dirs()
        upgrade(self.db)
        socket_path = relay_socket_path(self.settings.data_dir)
        if self._want_dispatch and self._lock.acquire():
            self._dispatcher = self._make_dispatcher()
            self._dispatcher.start()
            if self._renderer is not None:
                self._deliveries = DeliveryWorker(
                    self.db, self.settings, self._delivery_view, self._renderer
                )
                self._deliveries.start()
            self._relay_server = RelayServer(self.events, socket_path, self._woken)
            self._relay_server.start()
        else:
            self._relay = RelayClient(self.events, socket_path).start()
        self.db.after_commit(self._committed)
        self._started = True

    def _woken(self) -> None:
        """Another process queued jobs or wrote outbox entries."""
        if self._dispatcher is not None:
            self._dispatcher.wake()
        if self._deliveries is not None:
            self._deliveries.wake()

    def _committed(self, session: Session) -> None:
        """After every commit of this process: one that wrote outbox entries wakes the
        delivery worker, here or (through the relay) in the dispatching process."""
        if not outbox.wrote_entries(session):
            return
        if self._deliveries is not None:
            self._deliveries.wake()
        elif self._relay is not None:
            self._relay.wake()

    def _delivery_view(self, job_id: str) -> JobView | None:
        with self.db.session() as session:
            job = jobs_repo.get_job(session, job_id)
            return None if job is None else self._job_view(session, job)

    def _make_dispatcher(self) -> Dispatcher:
        runner = RUNNERS.get(self.settings.runner, self.settings.runner)
        return build_dispatcher(
            self.settings,
            self.db,
            self.events,
            plans=self.plans,
            runner=runner,
            balances=self._fast_balances,
        )

    def close(self) -> None:
        if self._deliveries is not None:
            self._deliveries.stop()
            self._deliveries = None
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        if self._relay_server is not None:
            self._relay_server.stop()
            self._relay_server = None
        if self._dispatcher is not None:
            self._dispatcher.stop()
            self._dispatcher = None
        self._lock.release()
        self.db.dispose()
        self._started = False

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def dispatching(self) -> bool:
        return self._dispatcher is not None

    def lower_scheduler_priority(self, nice: int) -> bool:
        """Let other processes have the CPU before this one's scheduler (see
        ``Settings.scheduler_nice``); False when it does not schedule or cannot."""
        return self._dispatcher is not None and self._dispatcher.lower_priority(nice)

    @property
    def hears_events(self) -> bool:
        """Whether this process's bus carries every job's events (it dispatches, or it is
        connected to the process that does)."""
        return self._dispatcher is not None or (self._relay is not None and self._relay.connected)

    def wait_for_events(self, timeout: float) -> bool:
        """Wait until :attr:`hears_events` (a relay connects in the background)."""
        if self._relay is None:
            return self.hears_events
        return self._relay.wait_connected(timeout)

    # -- shared helpers ------------------------------------------------------------------------

    def _now(self) -> datetime:
        return utcnow()

    def _expired(self, job: Job, now: datetime | None = None) -> bool:
        age = (now or self._now()) - job.created
        return age > timedelta(days=self.settings.job_retention_days)

    def _owned_job(
        self,
        session: Session,
        job_id: str,
        account: AccountView | None,
        *,
        not_found: str,
        expired: str | None,
    ) -> Job:
        """A job of the account (any job for ``account=None``), or a 404/410 refusal."""
        job = jobs_repo.get_job(session, job_id)
        if job is None or (account is not None and job.account_id != account.id):
            raise ServiceError(not_found, 404)
        if expired is not None and self._expired(job):
            raise ServiceError(expired, 410)
        return job

    def _announce(self, jobs: Sequence[JobLike]) -> None:
        """Tell listeners (SSE, webhooks) that queued jobs exist and wake the scheduler."""
        if self._dispatcher is not None:
            self._dispatcher.submitted(jobs)
            return
        for job in jobs:
            self._publish(job, jobs_repo.QUEUED)
        if self._relay is not None:
            self._relay.wake()

    def _publish(
        self, job: JobLike, status: str, *, progress: int = 0, error: str | None = None
    ) -> None:
        publish_job_event(self.events, job, status, progress=progress, error=error)

    def _job_view(
        self, session: Session, job: JobLike, *, account: AccountView | None = None
    ) -> JobView:
        """The view of ``job`` with its images and children, read in ``session``."""
        images = tuple(
            ImageView(
                index=img.index,
                path=self.files.resolve(img.path),
                width=img.width,
                height=img.height,
                seed=img.seed,
                id=img.id,
                visibility=img.visibility,
                key=img.key,
            )
            for img in jobs_repo.images_of_job(session, job.id)
        )
        children = tuple(
            (child_id, button)
            for child_id, button in session.execute(
                select(Job.id, Job.button)
                .where(Job.parent_job_id == job.id)
                .order_by(Job.created, Job.id)
            )
        )
        if account is not None and account.id == job.account_id:
            account_name = account.name
        else:
            row = session.get(Account, job.account_id)
            account_name = row.name if row is not None else ""
        return self._view_of(job, images, children, account_name)

    def _new_job_view(self, job: JobLike, *, account: AccountView) -> JobView:
        """The view of a job just queued by ``account``: no images or children yet, so no
        database needed (built after admission's commit, outside its write lock)."""
        return self._view_of(job, (), (), account.name)

    def _view_of(
        self,
        job: JobLike,
        images: tuple[ImageView, ...],
        children: tuple[tuple[str, str | None], ...],
        account_name: str,
    ) -> JobView:
        action = action_of_job(job.verb, job.button)
        return JobView(
            id=job.id,
            account_id=job.account_id,
            verb=job.verb,
            status=job.status,
            progress=job.progress,
            mode=job.mode_effective or job.mode_requested,
            prompt_text=job.prompt_text,
            seed=job.seed,
            error=job.error,
            gpu_seconds=job.gpu_seconds,
            cost_seconds=job.cost_seconds,
            images=images,
            job_type=job.job_type,
            button=job.button,
            parent_job_id=job.parent_job_id,
            channel=job.channel,
            created=job.created,
            updated=job.updated,
            visibility=job.visibility,
            request=dict(job.request or {}),
            response=dict(job.response or {}),
            preview_path=job.preview_path,
            children=children,
            buttons=tuple(self._buttons_of(job, images)),
            account_name=account_name,
            mode_requested=job.mode_requested,
            result=result_kind(job.verb, job.button),
            caption=action.caption if action is not None else "",
            split_index=action.index
            if action is not None and action.operation == "split"
            else None,
            executed_once=tuple((button, child) for child, button in children if button in SPLITS),
        )

    def _buttons_of(self, job: JobLike, images: Sequence[ImageView]) -> list[str]:
        if job.status != jobs_repo.COMPLETED:
            return []
        kind = result_kind(job.verb, job.button)
        version = str(((job.prompt or {}).get("params") or {}).get("version") or DEFAULT_VERSION)
        single = next((img for img in images if img.index == 1), None)
        square = single is None or single.width == single.height
        return buttons_for(kind, version, square=square)


def account_view(account: Account) -> AccountView:
    return AccountView(
        id=account.id,
        name=account.name,
        plan=account.plan,
        settings=dict(account.settings),
        timeout_until=account.timeout_until,
        strikes=account.moderation_strikes,
    )


def image_size(data: bytes) -> tuple[int, int]:
    with PILImage.open(io.BytesIO(data)) as image:
        return image.size
