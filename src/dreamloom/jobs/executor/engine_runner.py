"""The default runner: a recipe through ``dreamloom.engine`` inside a worker process."""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING

from dreamloom.jobs.executor.base import (
    MODERATION_KEY,
    CancelledCallback,
    ProgressCallback,
    RunnerOutput,
    Task,
    TaskCancelled,
)

if TYPE_CHECKING:
    from PIL.Image import Image

    from dreamloom.engine import Backend, Progress
    from dreamloom.engine.options import EngineOptions
    from dreamloom.safety import ImageModerator

# The worker's loaded model. One at a time: loading is slow (so keep it) and a second model
# would double the memory (so a different reference replaces it).
_loaded: tuple[tuple[str, str, str, EngineOptions], Backend] | None = None
# The output filter, loaded on the first job that asks for it (per threshold).
_moderators: dict[float, ImageModerator] = {}


def _backend(task: Task) -> Backend:
    global _loaded
    from dreamloom.engine import load_backend

    options = task.engine_options
    key = (task.backend_ref, str(task.cache_dir), task.device, options)
    if _loaded is None or _loaded[0] != key:
        _loaded = None  # drop the old model before loading the new one
        backend = load_backend(
            task.backend_ref, cache_dir=task.cache_dir, device=task.device, options=options
        )
        _loaded = (key, backend)
    return _loaded[1]


def png_bytes(image: Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def run(task: Task, progress: ProgressCallback, cancelled: CancelledCallback) -> RunnerOutput:
    from dreamloom.engine import Cancelled, Recipe
    from dreamloom.engine.describe import is_describe
    from dreamloom.jobs.executor.describe_run import run_describe

    if is_describe(task.recipe):
        # The bundled model's image encoder describes whatever model is served: the served
        # model is not loaded for it.
        return run_describe(task)
    backend = _backend(task)
    data = dict(task.recipe)
    threshold = data.pop(MODERATION_KEY, None)
    recipe = Recipe.from_dict(data)

    def on_progress(update: Progress) -> None:
        preview = png_bytes(update.preview) if update.preview is not None else None
        progress(update.step, update.total, preview)

    started = time.perf_counter()
    try:
        result = backend.run(recipe, progress=on_progress, cancelled=cancelled)
    except Cancelled as exc:
        raise TaskCancelled(time.perf_counter() - started) from exc
    if threshold is not None:
        _moderate(result.images, float(threshold))
    return RunnerOutput(
        images_png=[png_bytes(image) for image in result.images],
        seeds=[int(seed) for seed in result.seeds],
        compute_seconds=float(result.compute_seconds),
    )


def _moderate(images: list[Image], threshold: float) -> None:
    """Block the whole result when any image is not safe for work (stealth ones too)."""
    from dreamloom.jobs.executor.base import TaskModerated
    from dreamloom.safety import ImageModerator

    moderator = _moderators.get(threshold)
    if moderator is None:
        import torch

        # The engine is idle while its output is judged: the classifier may use its threads.
        threads = torch.get_num_threads()
        moderator = _moderators[threshold] = ImageModerator(threshold, threads=threads)
    verdict = moderator.check_all(images)
    if not verdict.allowed:
        raise TaskModerated(verdict.reason or "Request cancelled due to image filters")
