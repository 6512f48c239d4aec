"""The jobs layer wired from Settings: the dispatcher with local workers, images under the
data directory and plans from ``settings.plans_file``."""

from __future__ import annotations

from dreamloom.config import Settings
from dreamloom.events import EventBus
from dreamloom.jobs.balance import FastBalanceCache
from dreamloom.jobs.dispatcher import Dispatcher
from dreamloom.jobs.executor.base import ENGINE_RUNNER, Executor
from dreamloom.jobs.executor.local import LocalExecutor
from dreamloom.jobs.plans import PlanBook
from dreamloom.store.db import Database
from dreamloom.store.files import ImageFiles


def build_dispatcher(
    settings: Settings,
    db: Database,
    events: EventBus,
    *,
    runner: str = ENGINE_RUNNER,
    executor: Executor | None = None,
    plans: PlanBook | None = None,
    balances: FastBalanceCache | None = None,
) -> Dispatcher:
    """A dispatcher wired from Settings: local workers, images under the data directory,
    plans from ``settings.plans_file``."""
    return Dispatcher(
        db,
        executor
        if executor is not None
        else LocalExecutor(
            settings.workers,
            queue=settings.worker_queue,
            stall_timeout_s=settings.job_stall_timeout_s,
        ),
        ImageFiles(settings.images_dir),
        plans if plans is not None else PlanBook.load(settings.plans_file),
        events,
        cache_dir=settings.models_dir,
        backend_ref=settings.model,
        device=settings.device,
        engine_options=settings.engine_options,
        runner=runner,
        retries=settings.job_retries,
        balances=balances,
        # Above 1 nothing could be blocked: skip the classifier altogether.
        moderation_threshold=(
            settings.image_moderation_threshold
            if settings.image_moderation_threshold <= 1.0
            else None
        ),
    )
