"""The use-cases every client (CLI, REST API, web app, Discord bot) goes through.

One ``Service`` per process. The process that holds the data directory's dispatcher lock runs
the scheduler and the workers; any other process over the same data directory (a CLI command
while the server runs) only writes submissions into the shared queue and watches the database,
so the scheduler stays the single authority on order and limits.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from dreamloom.config import Settings
from dreamloom.engine import ModelInfo, model_info, recipe_for_imagine
from dreamloom.events import EventBus
from dreamloom.jobs.balance import fast_balance_for, grant_fast_time
from dreamloom.jobs.dispatcher import (
    Dispatcher,
    NotCancellableError,
    build_dispatcher,
    cancel_job,
)
from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.scheduler import AdmissionError, queue_full_message
from dreamloom.jobs.submit import submit_jobs
from dreamloom.prompt import Prompt, PromptContext, PromptError, parse_prompt
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import jobs_repo
from dreamloom.store.db import Database, upgrade
from dreamloom.store.files import ImageFiles
from dreamloom.store.tables import Account, Job

SEED_MAX = 4_294_967_295
WAIT_POLL_SECONDS = 0.1
# Upper bound between database reads while waiting on events (in case one was missed).
WAIT_EVENT_SECONDS = 1.0


class ServiceError(Exception):
    """A refusal with a user-facing message and the HTTP status that fits it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class AccountView:
    id: int
    name: str
    plan: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class UserRow:
    name: str
    plan: str
    fast_seconds_left: float


@dataclass(frozen=True)
class ImageView:
    index: int
    path: Path
    width: int
    height: int
    seed: int | None


@dataclass(frozen=True)
class JobView:
    id: str
    account_id: int
    verb: str
    status: str
    progress: int
    mode: str
    prompt_text: str
    seed: int | None
    error: str | None
    gpu_seconds: float
    cost_seconds: float
    images: tuple[ImageView, ...] = ()


def settings_as_params(settings: dict[str, Any]) -> str:
    """An account's /settings as parameter text: the lowest-precedence part of every prompt."""
    parts: list[str] = []
    # The speed mode goes in as a parameter so that the prompt layer applies the relax rules
    # (no batches in relax) to accounts in relax mode too; a prompt's own --fast still wins.
    if settings.get("mode") in ("fast", "relax", "turbo"):
        parts.append(f"--{settings['mode']}")
    if settings.get("stealth"):
        parts.append("--stealth")
    if settings.get("version"):
        parts.append(f"--v {settings['version']}")
    if settings.get("stylize") is not None:
        parts.append(f"--s {settings['stylize']}")
    return " ".join(parts)


class _DispatcherLock:
    """An exclusive, non-blocking lock on a file in the data directory; released on exit."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        handle = self._path.open("a+")
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


class Service:
    def __init__(self, settings: Settings, *, dispatch: bool = True) -> None:
        self.settings = settings
        self._want_dispatch = dispatch
        self.db = Database(settings.resolved_database_url())
        self.files = ImageFiles(settings.images_dir)
        self.plans = PlanBook.load(settings.plans_file)
        self.events = EventBus()
        self.model: ModelInfo = model_info(settings.model, settings.models_dir)
        self._lock = _DispatcherLock(settings.data_dir / "dispatcher.lock")
        self._dispatcher: Dispatcher | None = None
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self.settings.ensure_dirs()
        upgrade(self.db)
        if self._want_dispatch and self._lock.acquire():
            self._dispatcher = self._make_dispatcher()
            self._dispatcher.start()
        self._started = True

    def _make_dispatcher(self) -> Dispatcher:
        return build_dispatcher(self.settings, self.db, self.events, plans=self.plans)

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.stop()
            self._dispatcher = None
        self._lock.release()
        self.db.dispose()
        self._started = False

    def __enter__(self) -> Service:
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

    # -- accounts ----------------------------------------------------------------------------

    def create_user(self, name: str, plan: str) -> tuple[AccountView, str]:
        if plan not in self.plans.plans:
            known = ", ".join(sorted(self.plans.plans))
            raise ServiceError(f"Unknown plan {plan!r}; plans: {known}")
        with self.db.session(write=True) as session:
            try:
                account = accounts_repo.create_account(session, name, plan)
            except accounts_repo.AccountExistsError:
                raise ServiceError(f"An account named {name!r} already exists", 409) from None
            token = accounts_repo.issue_token(session, account.id)
            return _account_view(account), token.plaintext

    def issue_token(self, name: str) -> str:
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                raise ServiceError(f"No account named {name!r}", 404)
            return accounts_repo.issue_token(session, account.id).plaintext

    def ensure_user(self, name: str, plan: str | None = None) -> AccountView:
        """The named account, created on the default plan when missing (the CLI's own user)."""
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                account = accounts_repo.create_account(
                    session, name, plan or self.plans.default_plan
                )
            return _account_view(account)

    def authenticate(self, token: str) -> AccountView | None:
        with self.db.session(write=True) as session:
            account = accounts_repo.authenticate(session, token)
            return _account_view(account) if account else None

    def list_users(self) -> list[UserRow]:
        with self.db.session() as session:
            return [
                UserRow(a.name, a.plan, fast_balance_for(session, a, self.plans).remaining)
                for a in accounts_repo.list_accounts(session)
            ]

    def grant_time(self, name: str, kind: str, hours: float) -> float:
        """Add purchased (expires in 60 days) or bonus (30 days) fast time; returns the
        account's fast seconds left afterwards."""
        if kind not in ("purchased", "bonus"):
            raise ServiceError("Fast time is either purchased or bonus")
        if hours <= 0:
            raise ServiceError("Granted hours must be positive")
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                raise ServiceError(f"No account named {name!r}", 404)
            grant_fast_time(session, account.id, kind, hours * 3600, self.plans)
            session.flush()
            return fast_balance_for(session, account, self.plans).remaining

    # -- submissions -------------------------------------------------------------------------

    def prompt_context(self, account: AccountView) -> PromptContext:
        settings = account.settings
        return PromptContext(
            settings=settings_as_params(settings),
            suffix=str(settings.get("suffix") or ""),
            option_sets=dict(settings.get("option_sets") or {}),
            batch_cap=self.plans.get(account.plan).batch_cap,
        )

    def submit_imagine(
        self, account: AccountView, prompt_text: str, *, request: dict[str, Any] | None = None
    ) -> list[JobView]:
        """Validate, cost and admit a prompt in one transaction; one job per expanded prompt."""
        try:
            prompts = parse_prompt(prompt_text, self.prompt_context(account))
        except PromptError as err:
            raise ServiceError(err.message, 400) from None
        mode = self._speed_mode(account, prompts[0])
        specs = [self._imagine_spec(account, p, mode, request) for p in prompts]
        with self.db.session(write=True) as session:
            try:
                jobs = submit_jobs(session, account.id, specs, self.plans)
            except AdmissionError as err:
                # A full queue is a matter of waiting (429), anything else of the request (400).
                plan = self.plans.get(account.plan)
                status = 429 if err.message == queue_full_message(plan) else 400
                raise ServiceError(err.message, status) from None
            views = [self._job_view(session, job) for job in jobs]
        if self._dispatcher is not None:
            self._dispatcher.submitted(jobs)
        return views

    def _speed_mode(self, account: AccountView, prompt: Prompt) -> str:
        if prompt.params.oref:
            # Omni reference jobs always run in turbo (support FAQ, --oref).
            return "turbo"
        return prompt.params.speed or str(account.settings.get("mode") or "fast")

    def _is_stealth(self, account: AccountView, prompt: Prompt) -> bool:
        if prompt.params.stealth is not None:
            return prompt.params.stealth
        return bool(account.settings.get("stealth"))

    def _imagine_spec(
        self, account: AccountView, prompt: Prompt, mode: str, request: dict[str, Any] | None
    ) -> jobs_repo.JobSpec:
        seed = prompt.params.seed
        if seed is None:
            seed = random.SystemRandom().randint(0, SEED_MAX)
        recipe = recipe_for_imagine(prompt, self.model, seed)
        return jobs_repo.JobSpec(
            verb="imagine",
            mode=mode,
            prompt_text=prompt.normalized(),
            prompt=prompt.to_dict(),
            recipe=recipe.to_dict(),
            seed=seed,
            draft=prompt.params.draft,
            visibility="stealth" if self._is_stealth(account, prompt) else "public",
            request=request,
        )

    # -- reading and waiting -----------------------------------------------------------------

    def get_job(self, job_id: str, account: AccountView | None = None) -> JobView:
        with self.db.session() as session:
            job = jobs_repo.get_job(session, job_id)
            if job is None or (account is not None and job.account_id != account.id):
                raise ServiceError(f"Job {job_id} not found", 404)
            return self._job_view(session, job)

    def wait(
        self,
        job_id: str,
        *,
        on_progress: Callable[[int], object] | None = None,
        timeout: float | None = None,
    ) -> JobView:
        """Block until the job ends, reporting progress (0-100) as it changes.

        In the dispatching process the job's events wake the wait at once; elsewhere the
        database is polled.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        subscription = self.events.subscribe(job_id) if self._dispatcher is not None else None
        last = -1
        try:
            while True:
                view = self.get_job(job_id)
                if on_progress is not None and view.progress != last:
                    last = view.progress
                    on_progress(view.progress)
                if view.status in jobs_repo.TERMINAL_STATUSES:
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

    def cancel(self, account: AccountView, job_id: str) -> JobView:
        """Cancel a running job; queued jobs cannot be cancelled (support FAQ)."""
        self.get_job(job_id, account)  # ownership
        try:
            if self._dispatcher is not None:
                self._dispatcher.cancel(job_id)
            else:
                # The dispatching process notices the cancellation and stops the run.
                with self.db.session(write=True) as session:
                    cancel_job(session, job_id)
        except NotCancellableError as err:
            raise ServiceError(str(err), 409) from None
        return self.get_job(job_id, account)

    def _job_view(self, session: Any, job: Job) -> JobView:
        images = tuple(
            ImageView(
                index=img.index,
                path=self.files.resolve(img.path),
                width=img.width,
                height=img.height,
                seed=img.seed,
            )
            for img in jobs_repo.images_of_job(session, job.id)
        )
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
        )


def _account_view(account: Account) -> AccountView:
    return AccountView(
        id=account.id, name=account.name, plan=account.plan, settings=dict(account.settings)
    )
