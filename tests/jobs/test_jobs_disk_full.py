"""A full disk while a job's images are written: the job fails at once with a clear reason,
keeps no partial files, is not charged, and never stays started."""

from __future__ import annotations

import errno
import io
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage
from test_jobs_dispatcher import Env, _held

from dreamloom.jobs.executor import finishing
from dreamloom.jobs.executor.base import (
    FAKE_RUNNER,
    Task,
    TaskCalls,
    TaskFailure,
    TaskResult,
    load_runner,
)
from dreamloom.jobs.outputs import DISK_FULL_ERROR
from dreamloom.store import jobs_repo
from dreamloom.store.files import ImageFiles


def _full_after(monkeypatch: pytest.MonkeyPatch, writes: int) -> None:
    """Let ``writes`` images be saved, then every save meets a full disk."""
    real = ImageFiles.save
    done = 0

    def save(self: ImageFiles, job_id: str, index: int, data: bytes, when: Any) -> str:
        nonlocal done
        if done >= writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        done += 1
        return real(self, job_id, index, data, when)

    monkeypatch.setattr(ImageFiles, "save", save)


def test_a_full_disk_fails_the_job_at_once_without_partial_files_or_charge(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher, executor = _held(env)
    account = env.account()
    (job_id,) = env.submit(dispatcher, account)
    env.wait(job_id, "started")
    _full_after(monkeypatch, writes=2)  # the grid and the first single land, then the disk fills
    executor.finish(job_id)
    job = env.wait(job_id, "failed", timeout=10)
    assert job.error == DISK_FULL_ERROR
    assert job.cost_seconds == 0 and env.ledger(job_id) == [] and env.images(job_id) == []
    job_dir = env.files.resolve(env.files.job_dir(job_id, job.created))
    assert not any(job_dir.glob("*.png")) if job_dir.exists() else True
    # The dispatcher goes on: the next job completes once there is room again.
    monkeypatch.undo()
    (after,) = env.submit(dispatcher, account)
    env.wait(after, "started")
    executor.finish(after)
    env.wait(after, "completed", timeout=10)


def test_a_failure_the_database_cannot_record_yet_is_recorded_when_it_can(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher, executor = _held(env)
    (job_id,) = env.submit(dispatcher, env.account())
    env.wait(job_id, "started")
    _full_after(monkeypatch, writes=0)
    real = jobs_repo.mark_failed
    refusals = 0

    def mark_failed(*args: Any, **kwargs: Any) -> bool:
        nonlocal refusals
        if refusals < 3:  # SQLite: "database or disk is full", a few polls long
            refusals += 1
            raise OSError(errno.ENOSPC, "database or disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs_repo, "mark_failed", mark_failed)
    executor.finish(job_id)
    job = env.wait(job_id, "failed", timeout=10)
    assert job.error == DISK_FULL_ERROR and refusals == 3


def test_a_worker_that_cannot_write_its_images_removes_them_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = finishing.write_atomically
    written: list[Path] = []
    lock = threading.Lock()

    def write(target: Path, data: bytes) -> None:
        with lock:  # the files are written side by side
            if len(written) == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(target)
        real(target, data)

    monkeypatch.setattr(finishing, "write_atomically", write)
    out = tmp_path / "job"
    task = Task("j1", "tiny", tmp_path, "cpu", {"fake_steps": 1}, FAKE_RUNNER, output_dir=out)
    (outcome,) = load_runner(FAKE_RUNNER).run([task], [TaskCalls(lambda *a: None, lambda: False)])
    result = finishing.Finisher(2).finish(task, outcome)
    assert isinstance(result, TaskFailure)
    assert (result.error, result.retryable) == (DISK_FULL_ERROR, False)
    assert len(written) == 3 and not any(out.glob("*.png"))


@pytest.fixture
def small_disk(tmpfs: Callable[[str], Path]) -> Path:
    """A real 128 KB filesystem: room for the grid of four noise pictures, not for the
    singles too."""
    return tmpfs("128k")


def _noise_png(seed: int) -> bytes:
    out = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    PILImage.fromarray(pixels, mode="RGB").save(out, format="PNG")
    return out.getvalue()  # ~27 KB: noise does not compress


def test_a_real_full_disk_fails_the_job_and_frees_what_it_wrote(
    env: Env, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.files = ImageFiles(small_disk)
    saves: list[int] = []
    real_save = ImageFiles.save

    def save(self: ImageFiles, job_id: str, index: int, data: bytes, when: Any) -> str:
        path = real_save(self, job_id, index, data, when)
        saves.append(index)  # only what really landed on the disk
        return path

    monkeypatch.setattr(ImageFiles, "save", save)

    def written() -> list[int]:
        return saves

    dispatcher, executor = _held(env)
    (job_id,) = env.submit(dispatcher, env.account())
    env.wait(job_id, "started")
    free_before = shutil.disk_usage(small_disk).free
    assert executor.on_event is not None
    images = [_noise_png(i) for i in range(4)]
    executor.on_event(TaskResult(job_id, images, [1, 2, 3, 4], 0.5))
    job = env.wait(job_id, "failed", timeout=10)
    assert job.error == DISK_FULL_ERROR and env.ledger(job_id) == []
    assert written(), "the grid was written before the disk filled"
    assert not list(small_disk.rglob("*.png")) and not list(small_disk.rglob(".tmp-*"))
    assert shutil.disk_usage(small_disk).free == free_before
