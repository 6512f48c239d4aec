"""The jobs layer wired from Settings: the dispatcher with local workers, images under the
data directory and plans from ``settings.plans_file``."""

from __future__ import annotations

from collections.abc import Mapping

from dreamloom.config import Settings
from dreamloom.events import EventBus
from dreamloom.jobs.balance import FastBalanceCache
from dreamloom.jobs.dispatcher import Dispatcher
from dreamloom.jobs.executor.base import ENGINE_RUNNER, Executor
from dreamloom.jobs.executor.local import LocalExecutor, jobs_per_batch
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
    ip_adapters: Mapping[str, str] | None = None,
) -> Dispatcher:
    """A dispatcher wired from Settings: local workers, images under the data directory,
    plans from ``settings.plans_file``."""
    return Dispatcher(
        db,
        executor
        if executor is not None
        else LocalExecutor(
            settings.workers,
            batch_images=batch_images(settings),
            queue=worker_queue(settings),
            devices=worker_devices(settings),
            stall_timeout_s=settings.job_stall_timeout_s,
        ),
        ImageFiles(settings.images_dir),
        plans if plans is not None else PlanBook.load(settings.plans_file),
        events,
        cache_dir=settings.models_dir,
        backend_ref=settings.model,
        device=settings.device,
        engine_options=settings.engine_options,
        ip_adapters=ip_adapters,
        loaded_models=settings.loaded_models,
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


def on_gpu(settings: Settings) -> bool:
    return settings.device.startswith("cuda")


def batch_images(settings: Settings) -> int:
    """``settings.batch_images``, with 0 (automatic) resolved for the device."""
    if settings.batch_images:
        return settings.batch_images
    return 16 if on_gpu(settings) else 4


def worker_queue(settings: Settings) -> int:
    """``settings.worker_queue``, unset (automatic) resolved for the device: a batch more on
    a GPU, none elsewhere."""
    if settings.worker_queue is not None:
        return settings.worker_queue
    return jobs_per_batch(batch_images(settings)) if on_gpu(settings) else 0


def worker_devices(settings: Settings) -> list[str] | None:
    """One GPU per worker when several workers are asked for on "cuda"; None: every worker
    runs on ``settings.device``."""
    if settings.device == "cuda" and settings.workers > 1:
        return [f"cuda:{index}" for index in range(settings.workers)]
    return None
