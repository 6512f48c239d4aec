"""Reading jobs and images, waiting for jobs, and cancelling them."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from dreamloom.domain import TERMINAL_STATUSES, JobStatus, JobType
from dreamloom.jobs.cancel import CANCELLED_ERROR, NotCancellableError
from dreamloom.service.accounts import Accounts
from dreamloom.service.channels import Channels
from dreamloom.service.errors import JOB_NOT_FOUND, ServiceError, job_expired
from dreamloom.service.job_views import JobViews
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView, ImageFile, JobView, RunningJobs
from dreamloom.store import jobs_repo
from dreamloom.store.tables import Job

WAIT_POLL_SECONDS = 0.1
# Upper bound between database reads while waiting on events (in case one was missed).
WAIT_EVENT_SECONDS = 1.0


class Reading:
    def __init__(
        self, runtime: Runtime, accounts: Accounts, channels: Channels, views: JobViews
    ) -> None:
        self.db = runtime.db
        self.files = runtime.files
        self.events = runtime.events
        self._runtime = runtime  # whether it hears events, the dispatcher to cancel with
        self._now = runtime.now
        self._publish = runtime.publish
        self._accounts = accounts
        self._channels = channels
        self._views = views

    def get_job(self, job_id: str, account: AccountView | None = None) -> JobView:
        """A job of the account (any job without one): 404 when missing or another's, 410
        when older than the retention."""
        if account is not None:
            self._accounts.require_subscription(account)
        with self.db.session() as session:
            job = self.owned_job(
                session, job_id, account, not_found=JOB_NOT_FOUND, expired=job_expired(job_id)
            )
            return self._views.of(session, job)

    def owned_job(
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
        if expired is not None and self._runtime.expired(job):
            raise ServiceError(expired, 410)
        return job

    def recent_jobs(self, account: AccountView, limit: int = 20) -> list[JobView]:
        """The account's latest image jobs, newest first (the web app's feed)."""
        with self.db.session() as session:
            jobs = jobs_repo.list_jobs(
                session, account_id=account.id, limit=limit, job_types=(JobType.IMAGE,)
            )
            return [self._views.of(session, job) for job in jobs]

    def list_running(self, account: AccountView) -> RunningJobs:
        """The account's active jobs by channel (GET /jobs)."""
        with self.db.session() as session:
            channels = self._channels.lanes_of(session, account.id)
            jobs = [
                self._views.of(session, job)
                for job in jobs_repo.active_jobs_of(session, account.id)
            ]
            groups = []
            for channel in channels:
                mine = tuple(j for j in jobs if j.channel == channel.id)
                groups.append((self._channels.view(channel, account), mine))
            return RunningJobs(channels=tuple(groups))

    def wait(
        self,
        job_id: str,
        *,
        on_progress: Callable[[int], object] | None = None,
        timeout: float | None = None,
    ) -> JobView:
        """Block until the job ends, reporting progress (0-100) as it changes.

        Where this process hears job events (it dispatches, or the relay is connected) they
        wake the wait at once; elsewhere the database is polled.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        subscription = self.events.subscribe(job_id) if self._runtime.hears_events else None
        last = -1
        try:
            while True:
                view = self.get_job(job_id)
                if on_progress is not None and view.progress != last:
                    last = view.progress
                    on_progress(view.progress)
                if view.status in TERMINAL_STATUSES:
                    return view
                if deadline is not None and time.monotonic() > deadline:
                    raise ServiceError(f"Job {job_id} did not finish in time", 504)
                if subscription is not None:
                    subscription.get(timeout=WAIT_EVENT_SECONDS)
                else:
                    time.sleep(WAIT_POLL_SECONDS)
        finally:
            if subscription is not None:
                subscription.close()

    def export_images(self, job_id: str, out_dir: Path) -> list[Path]:
        """Copy the grid and the singles of a job to ``out_dir``; returns the new paths."""
        view = self.get_job(job_id)
        paths: list[Path] = []
        for image in view.images:
            name = f"{job_id}_grid.png" if image.index == 0 else f"{job_id}_{image.index}.png"
            target = out_dir / name
            shutil.copyfile(image.path, target)
            paths.append(target)
        return paths

    def cancel(self, account: AccountView, job_id: str, *, queued_too: bool = False) -> JobView:
        """Cancel a running job. Queued jobs cannot be cancelled (support FAQ) unless
        ``queued_too`` (the useapi.net v3 reference cancels ``created`` jobs as well)."""
        self.get_job(job_id, account)  # ownership and expiry
        try:
            if queued_too and self._cancel_queued(job_id):
                return self.get_job(job_id, account)
            self._runtime.cancel_running(job_id)
        except NotCancellableError as err:
            raise ServiceError(err.message, 409) from None
        return self.get_job(job_id, account)

    def _cancel_queued(self, job_id: str) -> bool:
        """Fail a job still waiting in the queue; False when it is not queued (any more)."""
        with self.db.session(write=True) as session:
            job = jobs_repo.get_job(session, job_id)
            if job is None or not jobs_repo.mark_failed(
                session, job_id, CANCELLED_ERROR, self._now(), from_statuses=(JobStatus.CREATED,)
            ):
                return False
        self._publish(job, JobStatus.FAILED, error=CANCELLED_ERROR)
        return True

    # -- files -------------------------------------------------------------------------------

    def image_file(self, key: str) -> ImageFile | None:
        """The image a link names by its key (``Image.key``); None when there is none."""
        with self.db.session() as session:
            image = jobs_repo.image_by_key(session, key)
            if image is None:
                return None
            job = jobs_repo.get_job(session, image.job_id)
            if job is None:
                return None
            return ImageFile(
                id=image.id,
                path=self.files.resolve(image.path),
                owner_id=job.account_id,
                visibility=job.visibility,
                width=image.width,
                height=image.height,
            )

    def preview_file(self, job_id: str) -> ImageFile | None:
        """The latest progress preview of a job, while it has one."""
        with self.db.session() as session:
            job = jobs_repo.get_job(session, job_id)
            if job is None or job.preview_path is None:
                return None
            path = self.files.resolve(job.preview_path)
            if not path.is_file():
                return None
            return ImageFile(
                id=0,
                path=path,
                owner_id=job.account_id,
                visibility=job.visibility,
                width=0,
                height=0,
            )
