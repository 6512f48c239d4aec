"""A runner that returns at once: small solid images, no progress, no model.

For measuring everything around the engine (admission, scheduling, storage, the HTTP API)
without the engine's time: ``Settings.runner = "instant"``.
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image

from dreamloom.engine.describe import is_describe
from dreamloom.jobs.executor.base import (
    CancelledCallback,
    ProgressCallback,
    RunnerOutput,
    Task,
)
from dreamloom.jobs.executor.describe_run import run_describe


@lru_cache(maxsize=8)
def _picture(shade: int) -> Image.Image:
    return Image.new("RGB", (16, 16), (shade, 128, 255 - shade))


def run(task: Task, progress: ProgressCallback, cancelled: CancelledCallback) -> RunnerOutput:
    if is_describe(task.recipe):
        return run_describe(task, use_model=False)
    count = max(1, int(task.recipe.get("batch", 4)))
    seed = int(task.recipe.get("seed", 0))
    return RunnerOutput(
        images=[_picture((seed + i) % 8 * 32) for i in range(count)],
        seeds=[seed + i for i in range(count)],
        compute_seconds=0.001,
    )
