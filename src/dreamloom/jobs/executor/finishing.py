"""The worker's finishing stage: a runner's pictures become a stored job's files and result.

Moderation, PNG encoding (the singles, and the grid pasted from the same pictures: nothing is
decoded again) and file writes are CPU work. Done by the thread that drives the model they
would leave a GPU waiting; here they run on threads of their own while the runner computes
the next batch. Every picture is classified, and every file encoded, as a piece of work of its
own, so that even a lone job's pieces run side by side on the cores.

Whatever goes wrong here ends the task with a reason (a failure event), never silently: the
job must not stay "started" because a thread died.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from dreamloom.engine.grid import grid_shape, make_grid
from dreamloom.engine.images import png_bytes
from dreamloom.jobs.executor.base import (
    RunnerOutput,
    RunOutcome,
    SavedImage,
    Task,
    TaskCancelled,
    TaskFailure,
    TaskModerated,
    TaskResult,
)
from dreamloom.jobs.grid import numbered_pngs
from dreamloom.jobs.outputs import save_error
from dreamloom.store.files import job_image_name, write_atomically

if TYPE_CHECKING:
    from PIL.Image import Image

    from dreamloom.safety import ImageModerator

log = logging.getLogger(__name__)

FINISH_FAILED = "Could not finish the job's images: {error}"
MODERATED = "Request cancelled due to image filters"

Deliver = Callable[[TaskResult | TaskFailure], None]


def _png_text(task: Task, seed: object) -> dict[str, str]:
    """What a PNG file says about itself: the prompt, the seed, the job id."""
    text = {"Job ID": task.job_id}
    if task.caption:
        text["Prompt"] = task.caption
    if seed is not None:
        text["Seed"] = str(seed)
    return text


def failure_of(task: Task, exc: BaseException) -> TaskFailure:
    """The failure event of a task that a runner, or this stage, ended with ``exc``."""
    if isinstance(exc, TaskModerated):
        return TaskFailure(task.job_id, str(exc), retryable=False, moderated=True)
    if isinstance(exc, TaskCancelled):
        return TaskFailure(
            task.job_id,
            "cancelled",
            retryable=False,
            cancelled=True,
            compute_seconds=exc.compute_seconds,
        )
    return TaskFailure(task.job_id, f"{type(exc).__name__}: {exc}", retryable=False)


class Finisher:
    """Finishes tasks on a pool of ``threads`` threads (one task each) whose pieces (one
    picture's verdict, one file's encoding) run on a second pool of as many threads: a task
    waits for its pieces, so they cannot share one pool without risking a deadlock."""

    def __init__(self, threads: int) -> None:
        self._tasks = ThreadPoolExecutor(max(1, threads), thread_name_prefix="dreamloom-finish")
        self._pieces = ThreadPoolExecutor(max(1, threads), thread_name_prefix="dreamloom-piece")
        self._moderators: dict[float, ImageModerator] = {}
        self._lock = threading.Lock()

    def submit(self, task: Task, outcome: RunOutcome, deliver: Deliver) -> None:
        """Finish ``task`` in the background and hand its final event to ``deliver``."""
        self._tasks.submit(self._finish_and_deliver, task, outcome, deliver)

    def close(self) -> None:
        """Wait for the tasks being finished (their events are delivered), then stop."""
        self._tasks.shutdown(wait=True)
        self._pieces.shutdown(wait=True)

    def _finish_and_deliver(self, task: Task, outcome: RunOutcome, deliver: Deliver) -> None:
        try:
            event = self.finish(task, outcome)
        except Exception as exc:  # whatever it is, the job hears of it
            log.exception("finishing job %s failed", task.job_id)
            event = TaskFailure(
                task.job_id, FINISH_FAILED.format(error=f"{type(exc).__name__}: {exc}"), False
            )
        try:
            deliver(event)
        except Exception:  # the parent is gone: nobody is left to tell
            log.warning("could not deliver the outcome of job %s", task.job_id, exc_info=True)

    def finish(self, task: Task, outcome: RunOutcome) -> TaskResult | TaskFailure:
        if isinstance(outcome, BaseException):
            return failure_of(task, outcome)
        for note in outcome.notes:
            log.warning("job %s: %s", task.job_id, note)
        if not outcome.images:  # a text result (describe)
            return self._result(task, outcome)
        images = outcome.images
        verdicts = self._judge(images, outcome.moderation_threshold)
        seeds = outcome.seeds
        encodings = [
            self._pieces.submit(
                png_bytes, image, _png_text(task, seeds[i] if i < len(seeds) else None)
            )
            for i, image in enumerate(images)
        ]
        job_seed = task.recipe.get("seed")
        grid = (
            self._pieces.submit(lambda: png_bytes(make_grid(images), _png_text(task, job_seed)))
            if len(images) > 1
            else None
        )
        # Encoding went ahead beside the verdicts (a lone job waits for the slower of the
        # two, not for both); a blocked result throws its files away unwritten.
        for verdict in verdicts:
            reason = verdict.result()
            if reason is not None:
                return TaskFailure(task.job_id, reason, retryable=False, moderated=True)
        singles = [encoding.result() for encoding in encodings]
        grid_png = grid.result() if grid is not None else None
        if task.output_dir is None:
            return self._result(task, outcome, singles, grid_png)
        try:
            saved = self._write(task.output_dir, numbered_pngs(singles, grid_png), images)
        except OSError as exc:
            return TaskFailure(task.job_id, save_error(exc), retryable=False)
        return self._result(task, outcome, saved=saved)

    def _judge(self, images: Sequence[Image], threshold: float | None) -> list[Future[str | None]]:
        """One verdict per picture: None (allowed) or the reason it is blocked."""
        if threshold is None:
            return []
        moderator = self._moderator(threshold)

        def judge(image: Image) -> str | None:
            verdict = moderator.check_all([image])
            return None if verdict.allowed else (verdict.reason or MODERATED)

        return [self._pieces.submit(judge, image) for image in images]

    def _moderator(self, threshold: float) -> ImageModerator:
        with self._lock:
            moderator = self._moderators.get(threshold)
            if moderator is None:
                from dreamloom.safety import ImageModerator

                # One thread per call: the pictures are judged side by side on the pool.
                moderator = self._moderators[threshold] = ImageModerator(threshold, threads=1)
            return moderator

    def _write(
        self, folder: Path, files: Sequence[tuple[int, bytes]], images: Sequence[Image]
    ) -> tuple[SavedImage, ...]:
        """Write a job's numbered files side by side (each one waits for its fsync); on an
        error none of them stays: on a full disk the ones written would only take the space
        the next job needs."""
        paths = [folder / job_image_name(index) for index, _ in files]
        writes = [
            self._pieces.submit(write_atomically, path, data)
            for path, (_, data) in zip(paths, files, strict=True)
        ]
        errors = [exc for write in writes if (exc := write.exception()) is not None]
        if errors:
            for path in paths:
                path.unlink(missing_ok=True)
            raise errors[0]
        return tuple(SavedImage(index, *_size(index, images)) for index, _ in files)

    @staticmethod
    def _result(
        task: Task,
        output: RunnerOutput,
        singles: list[bytes] | None = None,
        grid_png: bytes | None = None,
        saved: tuple[SavedImage, ...] = (),
    ) -> TaskResult:
        return TaskResult(
            task.job_id,
            singles or [],
            output.seeds,
            output.compute_seconds,
            grid_png=grid_png,
            saved=saved,
            prompts=output.prompts,
            notes=output.notes,
        )


def _size(index: int, images: Sequence[Image]) -> tuple[int, int]:
    """A file's size without reading it back: the singles are the pictures, the grid (index 0)
    is ``make_grid``'s layout of them."""
    if index > 0:
        return images[index - 1].size
    columns, rows = grid_shape(len(images))
    width, height = images[0].size
    return columns * width, rows * height
