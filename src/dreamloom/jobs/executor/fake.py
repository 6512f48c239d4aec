"""A runner without a model, for tests: small solid-colour images, steered by the recipe.

Recipe keys (all optional):
- ``fake_steps`` (4) and ``fake_step_seconds`` (0.01): progress steps and the sleep per step;
- ``fake_images`` (4), ``fake_size`` (16): how many square images of what size;
- ``fake_error``: raise this message (a non-retryable failure);
- ``fake_moderated``: block the result with this reason (the job ends "moderated");
- ``fake_crash``: ``"always"`` kills the worker process mid-run (``os._exit``); a file path
  kills it only while that file does not exist yet (it is created first), i.e. once;
- ``fake_ignore_cancel``: keep running after cancellation (to test the executor's kill);
- ``fake_hang_seconds``: after the first step, sleep this long without a word (a hung run);
- ``seed`` (0): the first image's seed; image i gets seed + i.

A describe recipe runs the same steps, then answers the prompts measured from its pixels.
``DREAMLOOM_FAKE_STEP_SECONDS`` in the environment (inherited by the workers) sets the default
sleep per step, so that a test can make every job of a real server slow enough to interrupt.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image

from dreamloom.engine.describe import is_describe
from dreamloom.jobs.executor.base import (
    CancelledCallback,
    ProgressCallback,
    RunnerOutput,
    Task,
    TaskCancelled,
    TaskModerated,
)
from dreamloom.jobs.executor.describe_run import run_describe

STEP_SECONDS_ENV = "DREAMLOOM_FAKE_STEP_SECONDS"


def _png(size: int, color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _maybe_crash(spec: object) -> None:
    if spec == "always":
        os._exit(13)
    if isinstance(spec, str) and spec:
        marker = Path(spec)
        if not marker.exists():
            marker.touch()
            os._exit(13)


def run(task: Task, progress: ProgressCallback, cancelled: CancelledCallback) -> RunnerOutput:
    recipe = task.recipe
    steps = int(recipe.get("fake_steps", 4))
    step_seconds = float(recipe.get("fake_step_seconds", os.environ.get(STEP_SECONDS_ENV, 0.01)))
    size = int(recipe.get("fake_size", 16))
    count = int(recipe.get("fake_images", 4))
    seed = int(recipe.get("seed", 0))
    started = time.perf_counter()
    for step in range(1, steps + 1):
        if cancelled() and not recipe.get("fake_ignore_cancel"):
            raise TaskCancelled(time.perf_counter() - started)
        time.sleep(step_seconds)
        if step == max(1, steps // 2):
            _maybe_crash(recipe.get("fake_crash"))
            if recipe.get("fake_error"):
                raise RuntimeError(str(recipe["fake_error"]))
        shade = int(255 * step / steps)
        progress(step, steps, _png(4, (shade, shade, shade)))
        if step == 1 and recipe.get("fake_hang_seconds"):
            time.sleep(float(recipe["fake_hang_seconds"]))
    if recipe.get("fake_moderated"):
        raise TaskModerated(str(recipe["fake_moderated"]))
    if is_describe(recipe):
        described = run_describe(task, use_model=False)
        return replace(described, compute_seconds=time.perf_counter() - started)
    images = [_png(size, ((seed + i) * 53 % 256, i * 60, 200)) for i in range(count)]
    return RunnerOutput(
        images_png=images,
        seeds=[seed + i for i in range(count)],
        compute_seconds=time.perf_counter() - started,
    )
