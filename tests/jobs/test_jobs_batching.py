"""Workers batch compatible tasks and finish one batch while computing the next."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_jobs_dispatcher import Env
from test_jobs_local_executor import Harness

from dreamloom.config import Settings
from dreamloom.jobs.executor.base import TaskComputed, TaskFailure, TaskProgress, TaskResult
from dreamloom.jobs.executor.finishing import FINISH_FAILED
from dreamloom.jobs.executor.local import LocalExecutor
from dreamloom.jobs.wiring import batch_images, worker_devices, worker_queue

SLOW = {"fake_steps": 8, "fake_step_seconds": 0.05}


@pytest.fixture
def batching() -> Iterator[Harness]:
    """One worker whose batches hold three grid jobs (and so holds three tasks at once)."""
    executor = LocalExecutor(1, batch_images=12, cancel_grace_s=2.0)
    h = Harness(executor)
    executor.start(h.events.put)
    yield h
    executor.stop()


def _submit_behind_a_blocker(h: Harness, **batched: dict[str, object]) -> None:
    """A task that runs alone first, so that the others all wait in the worker together."""
    h.executor.submit(h.task("blocker", **SLOW))
    for job_id, recipe in batched.items():
        h.executor.submit(h.task(job_id, **recipe))


def _events(h: Harness, job_ids: list[str]) -> list[object]:
    for job_id in job_ids:
        h.outcome(job_id)
    return [e for e in h._seen if getattr(e, "job_id", None) in job_ids]


def test_compatible_tasks_waiting_together_run_as_one_batch(batching: Harness) -> None:
    assert batching.executor.slots == 3
    _submit_behind_a_blocker(
        batching, a={"fake_batch": "k", **SLOW}, b={"fake_batch": "k", **SLOW, "seed": 9}
    )
    events = _events(batching, ["blocker", "a", "b"])
    steps = [(e.job_id, e.step) for e in events if isinstance(e, TaskProgress)]
    # One run for both: their steps alternate, where one after the other they would not.
    assert steps.index(("b", 1)) < steps.index(("a", 2))
    assert steps.index(("blocker", 8)) < steps.index(("a", 1))
    computed = [e.job_id for e in events if isinstance(e, TaskComputed)]
    assert computed == ["blocker", "a", "b"]
    a, b = batching.outcome("a")[0], batching.outcome("b")[0]
    assert isinstance(a, TaskResult) and isinstance(b, TaskResult)
    assert (a.seeds, b.seeds) == ([0, 1, 2, 3], [9, 10, 11, 12])  # each keeps its own


def test_a_task_cancelled_inside_a_batch_stops_without_failing_the_others(
    batching: Harness,
) -> None:
    long = {"fake_batch": "k", "fake_steps": 40, "fake_step_seconds": 0.05}
    _submit_behind_a_blocker(batching, a=long, b=long)
    deadline = time.monotonic() + 20
    while not any(isinstance(e, TaskProgress) and e.job_id == "b" for e in batching._seen):
        batching._seen.append(batching.events.get(timeout=max(0.01, deadline - time.monotonic())))
    assert batching.executor.cancel("b")
    stopped, progress = batching.outcome("b")
    assert isinstance(stopped, TaskFailure) and stopped.cancelled and progress < 40
    finished, progress = batching.outcome("a")
    assert isinstance(finished, TaskResult) and progress == 40
    assert batching.executor.restarts == 0  # the worker stopped it; nothing was killed


def test_a_worker_killed_mid_batch_retries_each_job_of_the_batch_once(env: Env) -> None:
    dispatcher = env.dispatcher(batch_images=12)
    dispatcher.start()
    account = env.account(plan="pro")
    marker = env.tmp_path / "crashed-once"
    batch = {"fake_batch": "k", "fake_steps": 6, "fake_step_seconds": 0.05}
    # The crashing job first: whether the worker took it alone or with the others, they are
    # all in the worker when it dies.
    jobs = env.submit(dispatcher, account, fake_crash=str(marker), **batch)
    jobs += env.submit(dispatcher, account, count=2, **batch)
    for job_id in jobs:
        env.wait(job_id, "completed", timeout=60)
    assert marker.exists()
    assert [env.job(job_id).attempts for job_id in jobs] == [2, 2, 2]
    assert all(len(env.images(job_id)) == 5 for job_id in jobs)


def test_what_finishing_raises_fails_the_job_with_the_reason(env: Env) -> None:
    dispatcher = env.dispatcher()
    dispatcher.start()
    account = env.account()
    (broken,) = env.submit(dispatcher, account, fake_ragged=True)
    (fine,) = env.submit(dispatcher, account)
    job = env.wait(broken, "failed", timeout=30)
    assert job.error == FINISH_FAILED.format(
        error="ValueError: grid images must all have the same size"
    )
    assert not env.images(broken)
    env.wait(fine, "completed", timeout=30)  # the worker goes on


def test_a_gpu_gets_batches_and_one_worker_per_device(tmp_path: Path) -> None:
    cpu = Settings(data_dir=tmp_path)
    gpu = Settings(data_dir=tmp_path, device="cuda")
    assert (batch_images(cpu), worker_queue(cpu), worker_devices(cpu)) == (4, 0, None)
    # On a GPU: batches of four grids, a second batch ready behind the first.
    assert (batch_images(gpu), worker_queue(gpu), worker_devices(gpu)) == (16, 4, None)
    two = Settings(data_dir=tmp_path, device="cuda", workers=2, batch_images=8, worker_queue=0)
    assert (batch_images(two), worker_queue(two), worker_devices(two)) == (
        8,
        0,
        ["cuda:0", "cuda:1"],
    )
    pinned = Settings(data_dir=tmp_path, device="cuda:1", workers=2)
    assert worker_devices(pinned) is None  # a named device is every worker's


def test_each_worker_runs_its_tasks_on_its_own_device() -> None:
    executor = LocalExecutor(2, devices=["cuda:0", "cuda:1"])
    h = Harness(executor)
    executor.start(h.events.put)
    try:
        for job_id in ("a", "b"):
            executor.submit(h.task(job_id, fake_steps=20, fake_step_seconds=0.05))
        deadline = time.monotonic() + 20
        while True:
            held = {
                run.task.job_id: run.task.device
                for slot in executor._slots
                if slot.worker is not None
                for run in slot.worker.runs.values()
            }
            if len(held) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert sorted(held.values()) == ["cuda:0", "cuda:1"]  # one task on each device
    finally:
        executor.stop()
