"""The service's core: lifecycle and the shared state every use-case needs.

One ``Service`` per process. The process that holds the data directory's dispatcher lock runs
the scheduler and the workers, and relays its job events to the other processes; any other
process over the same data directory (an API process of a multi-process server, a CLI command
while the server runs) only writes submissions into the shared queue, wakes the scheduler, and
hears the events of every job through ``dreamloom.event_relay``, so the scheduler stays the
single authority on order and limits.

``Runtime`` is that core: the settings, the database, the image files, the plans, the event
bus, the model's facts, the fast-time balances, and the dispatcher or the relay to it. The
use-cases (``wiring.py``) receive it through their constructors; it knows none of them.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import IO

from sqlalchemy.orm import Session

from dreamloom.config import Settings
from dreamloom.domain import JobStatus
from dreamloom.engine import ModelInfo
from dreamloom.engine.catalog import Catalog
from dreamloom.event_relay import RelayClient, RelayServer, relay_socket_path
from dreamloom.events import EventBus, publish_job_event
from dreamloom.jobs.balance import BALANCE_CACHE_SECONDS, FastBalanceCache
from dreamloom.jobs.cancel import cancel_job
from dreamloom.jobs.dispatcher import Dispatcher
from dreamloom.jobs.executor.base import ENGINE_RUNNER, FAKE_RUNNER
from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.wiring import build_dispatcher
from dreamloom.safety.decodes import DecodeSlots
from dreamloom.service.deliveries import DeliveryWorker, Renderer
from dreamloom.service.job_views import JobViews
from dreamloom.service.views import JobView
from dreamloom.store import jobs_repo, outbox
from dreamloom.store.db import Database, upgrade
from dreamloom.store.files import ImageFiles
from dreamloom.store.jobs_repo import JobLike
from dreamloom.store.tables import Job
from dreamloom.store.types import utcnow

RUNNERS = {
    "engine": ENGINE_RUNNER,
    "fake": FAKE_RUNNER,
    "instant": "dreamloom.jobs.executor.instant:run",
}


def load_catalog(settings: Settings) -> Catalog:
    """The catalog of ``settings``: its models file (required when named explicitly) and
    ``DREAMLOOM_VERSIONS`` on top."""
    return Catalog.load(
        settings.models_file_path,
        default_model=settings.model,
        default_ip_adapter=settings.ip_adapter or None,
        cache_dir=settings.models_dir,
        extra=settings.versions,
        required=settings.models_file is not None,
    )


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


class Runtime:
    """What every use-case shares: one per process, started and closed by the ``Service``."""

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
        self.fast_balances = FastBalanceCache(self.plans, ttl=BALANCE_CACHE_SECONDS)
        self.events = EventBus()
        # The versions served and their models' facts (engine.catalog): a recipe is built from
        # its prompt's version's model, and a version without one is refused at submission.
        self.catalog = load_catalog(settings)
        self.views = JobViews(self.files)
        # Every decode of a user's picture (uploads, URLs, blend inputs, region masks) takes a
        # slot: a burst of requests costs at most this many decoded pictures of memory.
        self.decodes = DecodeSlots(settings.image_decodes)
        self._lock = _DispatcherLock(settings.data_dir / "dispatcher.lock")
        self.dispatcher: Dispatcher | None = None
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
            self.dispatcher = self._make_dispatcher()
            self.dispatcher.start()
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
        if self.dispatcher is not None:
            self.dispatcher.wake()
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
            return None if job is None else self.views.of(session, job)

    def _make_dispatcher(self) -> Dispatcher:
        runner = RUNNERS.get(self.settings.runner, self.settings.runner)
        return build_dispatcher(
            self.settings,
            self.db,
            self.events,
            plans=self.plans,
            runner=runner,
            balances=self.fast_balances,
            ip_adapters=self.catalog.ip_adapters(),
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
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        self._lock.release()
        self.db.dispose()
        self._started = False

    @property
    def dispatching(self) -> bool:
        return self.dispatcher is not None

    def lower_scheduler_priority(self, nice: int) -> bool:
        """Let other processes have the CPU before this one's scheduler (see
        ``Settings.scheduler_nice``); False when it does not schedule or cannot."""
        return self.dispatcher is not None and self.dispatcher.lower_priority(nice)

    @property
    def hears_events(self) -> bool:
        """Whether this process's bus carries every job's events (it dispatches, or it is
        connected to the process that does)."""
        return self.dispatcher is not None or (self._relay is not None and self._relay.connected)

    def wait_for_events(self, timeout: float) -> bool:
        """Wait until :attr:`hears_events` (a relay connects in the background)."""
        if self._relay is None:
            return self.hears_events
        return self._relay.wait_connected(timeout)

    # -- what the use-cases share -------------------------------------------------------------

    @property
    def model(self) -> ModelInfo:
        """The default version's model (or the newest served, when 7 is not)."""
        from dreamloom.prompt.versions import DEFAULT_VERSION

        try:
            return self.catalog.info(DEFAULT_VERSION)
        except ValueError:
            newest = self.catalog.newest() or self.catalog.entries[0]
            return newest.info

    def now(self) -> datetime:
        return utcnow()

    def expired(self, job: Job, now: datetime | None = None) -> bool:
        age = (now or self.now()) - job.created
        return age > timedelta(days=self.settings.job_retention_days)

    def announce(self, jobs: Sequence[JobLike]) -> None:
        """Tell listeners (SSE, webhooks) that queued jobs exist and wake the scheduler."""
        if self.dispatcher is not None:
            self.dispatcher.submitted(jobs)
            return
        for job in jobs:
            self.publish(job, JobStatus.CREATED)
        if self._relay is not None:
            self._relay.wake()

    def publish(
        self, job: JobLike, status: str, *, progress: int = 0, error: str | None = None
    ) -> None:
        publish_job_event(self.events, job, status, progress=progress, error=error)

    def cancel_running(self, job_id: str) -> None:
        """Stop a running job: here when this process dispatches; otherwise the request is
        written, and the dispatching process notices it and stops the run. Raises
        ``NotCancellableError``."""
        if self.dispatcher is not None:
            self.dispatcher.cancel(job_id)
            return
        with self.db.session(write=True) as session:
            cancel_job(session, job_id)
