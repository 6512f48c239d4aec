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
- ``seed`` (0): the first image's seed; image i gets seed + i;
- ``fake_ragged``: images of different sizes (no grid can be made of them: finishing fails);
- ``fake_batch``: tasks with the same value may run as one batch (their steps are made once,
  for all of them, at the pace of the first); a cancelled one stops, the others go on;
- ``fake_notes``: a list of notes the result carries, as the engine's fallbacks do.

A describe recipe runs the same steps, then answers the prompts measured from its pixels.
``DREAMLOOM_FAKE_STEP_SECONDS`` in the environment (inherited by the workers) sets the default
sleep per step, so that a test can make every job of a real server slow enough to interrupt.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from PIL import Image

from dreamloom.engine.describe import is_describe
from dreamloom.jobs.executor.base import (
    BatchSlot,
    CancelledCallback,
    ProgressCallback,
    RunnerOutput,
    RunOutcome,
    Task,
    TaskCalls,
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
    (outcome,) = _run_batch([task], [TaskCalls(progress, cancelled)])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


class FakeRunner:
    def batch_slot(self, task: Task) -> BatchSlot | None:
        key = task.recipe.get("fake_batch")
        return None if key is None else BatchSlot(key, int(task.recipe.get("fake_images", 4)))

    def run(self, tasks: Sequence[Task], calls: Sequence[TaskCalls]) -> list[RunOutcome]:
        return _run_batch(tasks, calls)


RUNNER = FakeRunner()


def _run_batch(tasks: Sequence[Task], calls: Sequence[TaskCalls]) -> list[RunOutcome]:
    lead = tasks[0].recipe
    steps = int(lead.get("fake_steps", 4))
    step_seconds = float(lead.get("fake_step_seconds", os.environ.get(STEP_SECONDS_ENV, 0.01)))
    outcomes: list[RunOutcome | None] = [None] * len(tasks)
    started = time.perf_counter()
    for step in range(1, steps + 1):
        for i, (task, call) in enumerate(zip(tasks, calls, strict=True)):
            ignores = task.recipe.get("fake_ignore_cancel")
            if outcomes[i] is None and not ignores and call.cancelled():
                outcomes[i] = TaskCancelled(time.perf_counter() - started)
        if all(outcome is not None for outcome in outcomes):
            break
        time.sleep(step_seconds)
        for i, (task, call) in enumerate(zip(tasks, calls, strict=True)):
            if outcomes[i] is not None:
                continue
            recipe = task.recipe
            if step == max(1, steps // 2):
                _maybe_crash(recipe.get("fake_crash"))
                if recipe.get("fake_error"):
                    outcomes[i] = RuntimeError(str(recipe["fake_error"]))
                    continue
            shade = int(255 * step / steps)
            call.progress(step, steps, _png(4, (shade, shade, shade)))
            if step == 1 and recipe.get("fake_hang_seconds"):
                time.sleep(float(recipe["fake_hang_seconds"]))
    elapsed = time.perf_counter() - started
    return [
        outcome if outcome is not None else _output(task, elapsed)
        for task, outcome in zip(tasks, outcomes, strict=True)
    ]


def _output(task: Task, elapsed: float) -> RunOutcome:
    recipe = task.recipe
    if recipe.get("fake_moderated"):
        return TaskModerated(str(recipe["fake_moderated"]))
    if is_describe(recipe):
        try:
            described = run_describe(task, use_model=False)
        except Exception as exc:
            return exc
        return replace(described, compute_seconds=elapsed)
    size = int(recipe.get("fake_size", 16))
    count = int(recipe.get("fake_images", 4))
    seed = int(recipe.get("seed", 0))
    grow = 1 if recipe.get("fake_ragged") else 0
    return RunnerOutput(
        images=[
            Image.new("RGB", (size + grow * i, size), ((seed + i) * 53 % 256, i * 60, 200))
            for i in range(count)
        ],
        seeds=[seed + i for i in range(count)],
        compute_seconds=elapsed,
        notes=tuple(str(note) for note in recipe.get("fake_notes", ())),
    )
