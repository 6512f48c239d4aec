"""The local executor with the fake runner: results, progress, crashes, cancellation."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dreamloom.jobs.executor.base import (
    FAKE_RUNNER,
    ExecutorEvent,
    Task,
    TaskFailure,
    TaskProgress,
    TaskResult,
)
from dreamloom.jobs.executor.local import LocalExecutor
from dreamloom.jobs.grid import png_size


class Harness:
    def __init__(self, executor: LocalExecutor) -> None:
        self.executor = executor
        self.events: queue.Queue[ExecutorEvent] = queue.Queue()
        self._seen: list[ExecutorEvent] = []

    def task(self, job_id: str, **recipe: Any) -> Task:
        return Task(job_id, "tiny", Path("/nonexistent"), "cpu", recipe, FAKE_RUNNER)

    def outcome(self, job_id: str, timeout: float = 20) -> tuple[TaskResult | TaskFailure, int]:
        """The final event of a job, and how many progress events came before it."""
        deadline = time.monotonic() + timeout
        while True:
            mine = [e for e in self._seen if e.job_id == job_id]
            final = [e for e in mine if isinstance(e, TaskResult | TaskFailure)]
            if final:
                return final[0], sum(isinstance(e, TaskProgress) for e in mine)
            self._seen.append(self.events.get(timeout=max(0.01, deadline - time.monotonic())))


@pytest.fixture
def harness() -> Iterator[Harness]:
    executor = LocalExecutor(2, cancel_grace_s=1.0)
    h = Harness(executor)
    executor.start(h.events.put)
    yield h
    executor.stop()


def test_results_progress_grid_and_slots(harness: Harness) -> None:
    assert harness.executor.slots == 2
    harness.executor.submit(harness.task("a", fake_steps=3, seed=7))
    harness.executor.submit(harness.task("b", fake_steps=2, fake_images=1))
    with pytest.raises(RuntimeError, match="no free worker"):
        harness.executor.submit(harness.task("c"))
    result, progress = harness.outcome("a")
    assert isinstance(result, TaskResult)
    assert progress == 3 and len(result.images_png) == 4 and result.seeds == [7, 8, 9, 10]
    assert result.grid_png is not None and result.grid_png.startswith(b"\x89PNG")
    assert result.compute_seconds > 0
    single, _ = harness.outcome("b")
    assert isinstance(single, TaskResult) and single.grid_png is None


def test_a_worker_writes_the_images_into_the_tasks_directory(
    harness: Harness, tmp_path: Path
) -> None:
    assert harness.executor.shares_disk
    out = tmp_path / "2026" / "01" / "job-a"
    task = harness.task("a", fake_steps=1, seed=7)
    harness.executor.submit(replace(task, output_dir=out))
    result, _ = harness.outcome("a")
    assert isinstance(result, TaskResult)
    # Nothing travels back but the sizes; the files are in place, whole and readable.
    assert result.images_png == [] and result.grid_png is None
    assert [image.index for image in result.saved] == [0, 1, 2, 3, 4]
    assert result.seeds == [7, 8, 9, 10]
    for image in result.saved:
        data = (out / f"{image.index}.png").read_bytes()
        assert png_size(data) == (image.width, image.height)
        assert oct((out / f"{image.index}.png").stat().st_mode & 0o777) == "0o644"
    grid, single = result.saved[0], result.saved[1]
    assert (grid.width, grid.height) == (2 * single.width, 2 * single.height)
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]


def test_errors_in_the_recipe_are_not_retryable(harness: Harness) -> None:
    harness.executor.submit(harness.task("bad", fake_error="boom"))
    failure, _ = harness.outcome("bad")
    assert isinstance(failure, TaskFailure)
    assert not failure.retryable and "boom" in failure.error
    bad_runner = Task("r", "tiny", Path("."), "cpu", {}, "no.such.module:run")
    harness.executor.submit(bad_runner)
    failure, _ = harness.outcome("r")
    assert isinstance(failure, TaskFailure) and "cannot load runner" in failure.error


def test_a_dead_worker_fails_its_task_retryably_and_is_replaced(harness: Harness) -> None:
    harness.executor.submit(harness.task("crash", fake_crash="always"))
    failure, _ = harness.outcome("crash")
    assert isinstance(failure, TaskFailure) and failure.retryable
    assert "exit code 13" in failure.error
    # The pool is whole again: two tasks run side by side.
    harness.executor.submit(harness.task("x"))
    harness.executor.submit(harness.task("y"))
    assert isinstance(harness.outcome("x")[0], TaskResult)
    assert isinstance(harness.outcome("y")[0], TaskResult)
    assert harness.executor.restarts == 1


def test_cancel_a_running_task(harness: Harness) -> None:
    harness.executor.submit(harness.task("long", fake_steps=200, fake_step_seconds=0.02))
    first = harness.events.get(timeout=20)
    assert isinstance(first, TaskProgress)
    assert harness.executor.cancel("long") is True
    failure, _ = harness.outcome("long")
    assert isinstance(failure, TaskFailure) and failure.cancelled and not failure.retryable
    assert 0 < failure.compute_seconds < 4
    assert harness.executor.cancel("long") is False
    assert harness.executor.cancel("never-submitted") is False


def test_a_task_that_ignores_cancellation_gets_its_worker_killed(harness: Harness) -> None:
    harness.executor.submit(
        harness.task("stubborn", fake_steps=1500, fake_step_seconds=0.02, fake_ignore_cancel=True)
    )
    assert isinstance(harness.events.get(timeout=20), TaskProgress)
    started = time.monotonic()
    harness.executor.cancel("stubborn")
    failure, _ = harness.outcome("stubborn")
    assert isinstance(failure, TaskFailure) and failure.cancelled
    assert time.monotonic() - started < 12  # grace 1 s, not the 30 s the task would take
    harness.executor.submit(harness.task("after"))
    assert isinstance(harness.outcome("after")[0], TaskResult)


def test_a_task_that_sends_nothing_for_the_stall_timeout_is_stopped() -> None:
    """A hung run loses its worker and fails (not retried); a long run that keeps reporting
    progress is not a hung one, however long it takes."""
    # Long enough for a fresh worker to start on a loaded machine (its start counts).
    executor = LocalExecutor(1, stall_timeout_s=5.0)
    harness = Harness(executor)
    executor.start(harness.events.put)
    try:
        started = time.monotonic()
        executor.submit(harness.task("hung", fake_steps=3, fake_hang_seconds=60))
        failure, progress = harness.outcome("hung")
        assert isinstance(failure, TaskFailure) and not failure.retryable
        assert failure.error == "The job made no progress for 5 seconds; its worker was stopped"
        assert progress == 1 and time.monotonic() - started < 30
        executor.submit(harness.task("steady", fake_steps=30, fake_step_seconds=0.15))
        result, progress = harness.outcome("steady")
        assert isinstance(result, TaskResult) and progress == 30
        assert executor.restarts == 1
    finally:
        executor.stop()


def test_a_worker_queue_takes_tasks_ahead_and_runs_them_all() -> None:
    """With ``queue=2`` each worker has two tasks waiting behind the one it runs: the slots
    are three times the workers, every task still ends with one result, and a waiting task
    cancelled before its turn ends at once without running."""
    executor = LocalExecutor(1, queue=2, cancel_grace_s=1.0)
    h = Harness(executor)
    executor.start(h.events.put)
    try:
        assert executor.slots == 3
        executor.submit(h.task("a", fake_steps=3, fake_step_seconds=0.2))
        executor.submit(h.task("b", fake_steps=1))
        executor.submit(h.task("c", fake_steps=1))
        with pytest.raises(RuntimeError, match="no free worker"):
            executor.submit(h.task("d"))
        assert executor.cancel("b")
        cancelled, progress = h.outcome("b")
        assert isinstance(cancelled, TaskFailure) and cancelled.cancelled and progress == 0
        first, _ = h.outcome("a")
        last, _ = h.outcome("c")
        assert isinstance(first, TaskResult) and isinstance(last, TaskResult)
        executor.submit(h.task("d", fake_steps=1))  # room again
        done, _ = h.outcome("d")
        assert isinstance(done, TaskResult)
    finally:
        executor.stop()


def test_tasks_go_to_the_worker_that_holds_their_model(harness: Harness) -> None:
    """Routing by model: a task of a model a worker last ran goes back to that worker, and a
    task of another model to a worker that would unload nothing of use."""

    def run(job_id: str, model: str) -> list[str]:
        harness.executor.submit(replace(harness.task(job_id, fake_steps=1), backend_ref=model))
        result, _ = harness.outcome(job_id)
        assert isinstance(result, TaskResult)
        return [
            ",".join(slot.worker.models) if slot.worker is not None else ""
            for slot in harness.executor._slots
        ]

    assert run("a", "model-one") == ["model-one", ""]
    assert run("b", "model-two") == ["model-one", "model-two"]
    assert run("c", "model-two") == ["model-one", "model-two"]
    assert run("d", "model-one") == ["model-one", "model-two"]
