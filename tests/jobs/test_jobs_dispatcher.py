"""The dispatcher end to end: real worker processes running the fake runner, a real database."""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from dreamloom.events import EventBus, JobEvent, Subscription
from dreamloom.jobs.cancel import (
    CANCELLED_ERROR,
    JobNotFoundError,
    NotCancellableError,
    cancel_job,
)
from dreamloom.jobs.dispatcher import Dispatcher
from dreamloom.jobs.executor.base import FAKE_RUNNER, Task, TaskResult
from dreamloom.jobs.executor.local import LocalExecutor
from dreamloom.jobs.grid import png_size
from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.submit import submit_jobs
from dreamloom.store import accounts, jobs_repo, ledger
from dreamloom.store.db import Database
from dreamloom.store.files import ImageFiles
from dreamloom.store.jobs_repo import JobSpec
from dreamloom.store.tables import Image, Job, UsageLedger
from dreamloom.store.types import utcnow

SLOW: dict[str, Any] = {"fake_steps": 200, "fake_step_seconds": 0.02}  # ~4 s unless cancelled


class Env:
    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.db = db
        self.tmp_path = tmp_path
        self.files = ImageFiles(tmp_path / "images")
        self.bus = EventBus(subscriber_maxsize=10_000)
        self.plans = PlanBook()
        self.dispatchers: list[Dispatcher] = []

    def dispatcher(self, workers: int = 1, retries: int = 1, batch_images: int = 4) -> Dispatcher:
        dispatcher = Dispatcher(
            self.db,
            LocalExecutor(workers, batch_images=batch_images, cancel_grace_s=2.0),
            self.files,
            self.plans,
            self.bus,
            cache_dir=self.tmp_path / "models",
            runner=FAKE_RUNNER,
            retries=retries,
            poll_seconds=0.1,
        )
        self.dispatchers.append(dispatcher)
        return dispatcher

    def account(self, name: str = "ada", plan: str = "standard") -> int:
        with self.db.session() as session:
            return accounts.create_account(session, name, plan).id

    def submit(
        self,
        dispatcher: Dispatcher | None,
        account_id: int,
        *,
        mode: str = "fast",
        count: int = 1,
        verb: str = "imagine",
        draft: bool = False,
        **recipe: Any,
    ) -> list[str]:
        specs = [
            JobSpec(
                verb=verb,
                mode=mode,
                prompt_text="a cat",
                recipe={"seed": 42, **recipe},
                seed=42,
                draft=draft,
            )
            for _ in range(count)
        ]
        with self.db.session(write=True) as session:
            jobs = submit_jobs(session, account_id, specs, self.plans)
        if dispatcher is not None:
            dispatcher.submitted(jobs)
        return [job.id for job in jobs]

    def job(self, job_id: str) -> Job:
        with self.db.session() as session:
            job = jobs_repo.get_job(session, job_id)
            assert job is not None
            return job

    def wait(self, job_id: str, *statuses: str, timeout: float = 30) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.status in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} is {job.status}, expected {statuses}")
            time.sleep(0.05)

    def images(self, job_id: str) -> list[Image]:
        with self.db.session() as session:
            return jobs_repo.images_of_job(session, job_id)

    def ledger(self, job_id: str) -> list[UsageLedger]:
        with self.db.session() as session:
            stmt = select(UsageLedger).where(UsageLedger.job_id == job_id)
            return list(session.scalars(stmt))


def drain(
    sub: Subscription,
    until: Callable[[JobEvent], bool],
    timeout: float = 30,
    *,
    partial: bool = False,
) -> list[JobEvent]:
    """Events until ``until`` says stop; ``partial``: whatever came within ``timeout``."""
    events: list[JobEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = sub.get(0.1)
        if event is None:
            continue
        events.append(event)
        if until(event):
            return events
    if partial:
        return events
    raise AssertionError(f"timed out; got {[(e.job_id, e.status) for e in events]}")


def test_a_job_runs_to_completion_with_progress_events_and_five_images(env: Env) -> None:
    dispatcher = env.dispatcher()
    dispatcher.start()
    account = env.account()
    sub = env.bus.subscribe()
    (job_id,) = env.submit(dispatcher, account, fake_steps=4, fake_step_seconds=0.02, fake_size=8)
    events = drain(sub, lambda e: e.job_id == job_id and e.terminal)
    mine = [e for e in events if e.job_id == job_id]
    statuses = [e.status for e in mine]
    assert statuses[:2] == ["created", "started"] and statuses[-1] == "completed"
    assert "progress" in statuses
    assert all(a.seq < b.seq for a, b in itertools.pairwise(mine))
    progress = [e.progress for e in mine if e.status == "progress"]
    assert progress == sorted(progress) and max(progress) < 100 and mine[-1].progress == 100
    previews = [e for e in mine if e.preview_png is not None]
    assert previews and previews[-1].preview_path is not None

    job = env.job(job_id)
    assert (job.status, job.progress, job.mode_effective, job.attempts) == (
        "completed",
        100,
        "fast",
        1,
    )
    assert job.gpu_seconds > 0 and job.cost_seconds == pytest.approx(job.gpu_seconds)
    assert job.started is not None and job.finished is not None and job.error is None
    # The preview showed the run in progress: it goes with the run.
    assert job.preview_path is None and not env.files.exists(previews[-1].preview_path)
    with env.db.session() as session:
        images = jobs_repo.images_of_job(session, job_id)
    assert [i.index for i in images] == [0, 1, 2, 3, 4]
    assert [i.seed for i in images] == [42, 42, 43, 44, 45]
    assert (images[0].width, images[0].height) == (16, 16)  # 2x2 grid of 8 px images
    assert all((i.width, i.height) == (8, 8) for i in images[1:])
    for image in images:
        assert png_size(env.files.read(image.path)) == (image.width, image.height)
    (entry,) = env.ledger(job_id)
    assert entry.mode == "fast" and entry.charged_seconds == pytest.approx(job.cost_seconds)
    assert dispatcher.wait_idle(5)


def test_charges_follow_the_speed_mode(env: Env) -> None:
    dispatcher = env.dispatcher(workers=2)
    dispatcher.start()
    account = env.account(plan="pro")
    (turbo,) = env.submit(dispatcher, account, mode="turbo")
    (relax,) = env.submit(dispatcher, account, mode="relax")
    (draft,) = env.submit(dispatcher, account, draft=True)
    (split,) = env.submit(dispatcher, account, verb="button", fake_images=1)
    for job_id, multiplier in ((turbo, 2.0), (relax, 0.0), (draft, 0.5)):
        job = env.wait(job_id, "completed")
        assert job.cost_seconds == pytest.approx(job.gpu_seconds * multiplier)
        (entry,) = env.ledger(job_id)
        assert entry.gpu_seconds == pytest.approx(job.gpu_seconds) and entry.gpu_seconds > 0
    assert env.job(relax).mode_effective == "relax"
    single = env.wait(split, "completed")
    with env.db.session() as session:
        assert [i.index for i in jobs_repo.images_of_job(session, single.id)] == [1]


def test_turbo_runs_as_fast_without_turbo_capacity(env: Env) -> None:
    env.plans = PlanBook(turbo_available=False)
    dispatcher = env.dispatcher()
    dispatcher.start()
    (job_id,) = env.submit(dispatcher, env.account(), mode="turbo")
    job = env.wait(job_id, "completed")
    assert (job.mode_requested, job.mode_effective) == ("turbo", "fast")
    assert job.cost_seconds == pytest.approx(job.gpu_seconds)


def test_cancel_a_running_job_charges_only_measured_time(env: Env) -> None:
    dispatcher = env.dispatcher()
    dispatcher.start()
    account = env.account()
    (job_id,) = env.submit(dispatcher, account, **SLOW)
    env.wait(job_id, "progress")
    sub = env.bus.subscribe(job_id)
    cancelled = dispatcher.cancel(job_id)
    assert (cancelled.status, cancelled.error) == ("failed", CANCELLED_ERROR)
    events = drain(sub, lambda e: e.terminal, timeout=5)
    assert (events[-1].status, events[-1].error) == ("failed", CANCELLED_ERROR)
    assert sub.get(0.3) is None  # nothing after the terminal event
    # The worker stops at its next step and reports what it measured; that is charged.
    deadline = time.monotonic() + 10
    while not env.ledger(job_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    (entry,) = env.ledger(job_id)
    assert 0 < entry.gpu_seconds < 3.5
    job = env.job(job_id)
    assert job.status == "failed" and job.cost_seconds == pytest.approx(entry.charged_seconds)
    with env.db.session() as session:
        assert jobs_repo.images_of_job(session, job_id) == []
    with pytest.raises(NotCancellableError, match="already failed"):
        dispatcher.cancel(job_id)
    # The worker is free again.
    (after,) = env.submit(dispatcher, account)
    env.wait(after, "completed")


def test_queued_and_unknown_jobs_cannot_be_cancelled(env: Env) -> None:
    dispatcher = env.dispatcher(workers=1)
    dispatcher.start()
    account = env.account()
    (running,) = env.submit(dispatcher, account, **SLOW)
    (queued,) = env.submit(dispatcher, account)
    env.wait(running, "started", "progress")
    with pytest.raises(NotCancellableError, match="Only running jobs can be cancelled") as info:
        dispatcher.cancel(queued)
    assert "queue" in info.value.message
    assert env.job(queued).status == "created"
    with pytest.raises(JobNotFoundError):
        dispatcher.cancel("no-such-job")
    dispatcher.cancel(running)
    env.wait(queued, "completed")


def test_a_killed_worker_is_retried_and_the_job_completes(env: Env) -> None:
    dispatcher = env.dispatcher()
    dispatcher.start()
    account = env.account()
    marker = env.tmp_path / "crashed-once"
    sub = env.bus.subscribe()
    (job_id,) = env.submit(dispatcher, account, fake_crash=str(marker))
    events = drain(sub, lambda e: e.job_id == job_id and e.terminal)
    assert marker.exists()
    statuses = [e.status for e in events if e.job_id == job_id]
    assert statuses[0] == "created" and statuses[-1] == "completed"
    assert statuses.count("started") == 2 and statuses.count("created") == 2  # re-queued once
    job = env.job(job_id)
    assert job.attempts == 2 and job.error is None


def test_a_job_that_always_kills_its_worker_fails_and_service_goes_on(env: Env) -> None:
    dispatcher = env.dispatcher(retries=1)
    dispatcher.start()
    account = env.account()
    (doomed,) = env.submit(dispatcher, account, fake_crash="always")
    job = env.wait(doomed, "failed")
    assert job.attempts == 2
    assert job.error is not None and "gave up after 2 attempts" in job.error
    assert env.ledger(doomed) == []  # nothing measured, nothing charged
    (fine,) = env.submit(dispatcher, account)
    env.wait(fine, "completed")
    (bad,) = env.submit(dispatcher, account, fake_error="bad recipe")
    failed = env.wait(bad, "failed")
    assert failed.attempts == 1 and failed.error is not None and "bad recipe" in failed.error


def test_a_new_dispatcher_resumes_interrupted_and_queued_jobs(env: Env) -> None:
    first = env.dispatcher(workers=1)
    first.start()
    account = env.account()
    (interrupted,) = env.submit(first, account, fake_steps=50, fake_step_seconds=0.02)
    waiting = env.submit(first, account, count=2)
    env.wait(interrupted, "progress")
    first.stop()  # the "crash": the worker is killed, the job stays "progress"
    assert env.job(interrupted).status == "progress"
    assert {env.job(j).status for j in waiting} == {"created"}

    second = env.dispatcher(workers=1)
    sub = env.bus.subscribe(interrupted)
    second.start()
    event = sub.get(5)
    assert event is not None and event.status == "created"  # announced as re-queued
    for job_id in [interrupted, *waiting]:
        env.wait(job_id, "completed", timeout=30)
    assert env.job(interrupted).attempts == 2
    assert [env.job(j).attempts for j in waiting] == [1, 1]


def test_jobs_without_fast_time_left_drop_to_relax_or_fail(env: Env) -> None:
    env.plans = PlanBook.from_overrides(
        {"plans": {"basic": {"monthly_fast_minutes": 1}, "standard": {"monthly_fast_minutes": 1}}}
    )
    basic, standard = env.account("bas", "basic"), env.account("std", "standard")
    (b_job,) = env.submit(None, basic)
    (s_job,) = env.submit(None, standard)
    # Fast time ran out between submission and dispatch (e.g. other jobs finished first).
    with env.db.session() as session:
        for account_id in (basic, standard):
            ledger.record_usage(session, account_id, None, "fast", 60, 60)
    dispatcher = env.dispatcher()
    dispatcher.start()
    failed = env.wait(b_job, "failed")
    assert failed.error is not None and "run out of fast hours" in failed.error
    relaxed = env.wait(s_job, "completed")
    assert relaxed.mode_effective == "relax" and relaxed.cost_seconds == 0


def test_a_moderated_result_ends_the_job_moderated_without_charge(env: Env) -> None:
    dispatcher = env.dispatcher()
    dispatcher.start()
    (job_id,) = env.submit(dispatcher, env.account(), fake_moderated="blocked by image filter")
    job = env.wait(job_id, "moderated")
    assert job.error == "blocked by image filter" and job.cost_seconds == 0
    assert env.ledger(job_id) == []


def test_a_cancel_recorded_by_another_process_stops_the_run(env: Env) -> None:
    dispatcher = env.dispatcher()
    dispatcher.start()
    account = env.account()
    # ~20 s unless cancelled: far from what the check below allows even on a loaded machine.
    (job_id,) = env.submit(dispatcher, account, fake_steps=1000, fake_step_seconds=0.02)
    env.wait(job_id, "progress")
    sub = env.bus.subscribe(job_id)
    started = time.monotonic()
    with env.db.session(write=True) as session:  # e.g. a web process without the dispatcher
        cancel_job(session, job_id)
    events = drain(sub, lambda e: e.terminal, timeout=15)
    assert (events[-1].status, events[-1].error) == ("failed", CANCELLED_ERROR)
    (after,) = env.submit(dispatcher, account)
    env.wait(after, "completed", timeout=15)
    assert time.monotonic() - started < 12  # the run was stopped, not waited out
    assert len(env.ledger(job_id)) == 1


class HeldExecutor:
    """Holds every task until the test finishes them all at once (results arriving together)."""

    slots = 4
    shares_disk = False  # the images come back as bytes

    @property
    def free(self) -> int:
        return self.slots - sum(task.job_id not in self.done for task in self.tasks)

    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.done: set[str] = set()
        self.on_event: Callable[[Any], None] | None = None

    def start(self, on_event: Callable[[Any], None]) -> None:
        self.on_event = on_event

    def submit(self, task: Task) -> None:
        self.tasks.append(task)

    def cancel(self, job_id: str) -> bool:
        return False

    def stop(self) -> None:
        pass

    def finish_all(self) -> None:
        for task in list(self.tasks):
            self.finish(task.job_id)

    def finish(self, job_id: str) -> None:
        assert self.on_event is not None
        n = [task.job_id for task in self.tasks].index(job_id)
        images = [_png((40 * n + i) % 255) for i in range(4)]
        self.done.add(job_id)
        self.on_event(TaskResult(job_id, images, [7, 8, 9, 10], 0.5, grid_png=_png(n)))


def _png(shade: int) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (8, 8), (shade, 0, 0)).save(out, format="PNG")
    return out.getvalue()


def _held(env: Env, clock: Callable[[], datetime] = utcnow) -> tuple[Dispatcher, HeldExecutor]:
    executor = HeldExecutor()
    dispatcher = Dispatcher(
        env.db,
        executor,
        env.files,
        env.plans,
        env.bus,
        cache_dir=env.tmp_path / "models",
        poll_seconds=0.1,
        clock=clock,
    )
    env.dispatchers.append(dispatcher)
    dispatcher.start()
    return dispatcher, executor


def test_an_accounts_running_jobs_stay_within_its_plan_across_passes(env: Env) -> None:
    dispatcher, executor = _held(env)
    account = env.account(plan="standard")  # three at once; the executor has four slots
    job_ids = env.submit(dispatcher, account, count=4)
    for job_id in job_ids[:3]:
        env.wait(job_id, "started")
    time.sleep(0.5)  # several scheduling passes (polls every 0.1 s)
    assert len(executor.tasks) == 3 and env.job(job_ids[3]).status == "created"
    executor.finish(job_ids[0])
    env.wait(job_ids[3], "started")
    assert len(executor.tasks) == 4


def test_results_arriving_together_are_recorded_in_one_transaction(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher, executor = _held(env)
    account = env.account(plan="pro")  # four at once
    job_ids = env.submit(dispatcher, account, count=4)
    for job_id in job_ids:
        env.wait(job_id, "started")
    assert sorted(t.job_id for t in executor.tasks) == sorted(job_ids)
    # Another process cancels one of them while it runs: it must end cancelled, charged only
    # what it measured, while the others complete.
    with env.db.session(write=True) as session:
        cancel_job(session, job_ids[0])
    sub = env.bus.subscribe()

    real_session = env.db.session
    gate = threading.Event()
    writes: list[int] = []

    @contextmanager
    def counted(*, write: bool = False) -> Iterator[Any]:
        if write:
            gate.wait(10)  # the first result's transaction waits until all results are in
            writes.append(1)
        with real_session(write=write) as session:
            yield session

    monkeypatch.setattr(env.db, "session", counted)
    executor.finish_all()
    time.sleep(0.3)
    gate.set()
    for job_id in job_ids[1:]:
        job = env.wait(job_id, "completed")
        assert job.cost_seconds > 0
        images = env.images(job_id)
        assert [image.index for image in images] == [0, 1, 2, 3, 4]
        assert [png_size(env.files.read(image.path)) for image in images] == [(8, 8)] * 5
        assert len(env.ledger(job_id)) == 1
    cancelled = env.job(job_ids[0])
    assert (cancelled.status, cancelled.error) == ("failed", CANCELLED_ERROR)
    assert env.images(job_ids[0]) == []
    assert len(env.ledger(job_ids[0])) == 1  # the measured time, charged late
    completed = drain(sub, lambda e: False, timeout=0.5, partial=True)
    assert sorted(e.job_id for e in completed if e.status == "completed") == sorted(job_ids[1:])
    # One write for the late charge, and the three completions in one or two (the dispatcher
    # may take the first result alone; the others wait in its inbox and go together). One
    # transaction per result would make four.
    assert len(writes) <= 3


def test_a_run_charged_after_its_cancel_is_dated_by_the_dispatchers_clock(env: Env) -> None:
    # The ledger line's date decides which monthly allowance pays for it.
    then = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    dispatcher, executor = _held(env, clock=lambda: then)
    (job_id,) = env.submit(dispatcher, env.account())
    env.wait(job_id, "started")
    with env.db.session(write=True) as session:
        cancel_job(session, job_id)
    executor.finish(job_id)
    deadline = time.monotonic() + 10
    while not env.ledger(job_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    (entry,) = env.ledger(job_id)
    assert entry.gpu_seconds == pytest.approx(0.5)
    assert entry.created.replace(tzinfo=None) == then.replace(tzinfo=None)


def test_a_results_notes_are_stored_with_the_job(env: Env) -> None:
    # A worker process's runner reports a fallback (as the engine does when Lanczos stands
    # in for Real-ESRGAN): the job completes and its response keeps the note.
    dispatcher = env.dispatcher()
    dispatcher.start()
    account = env.account()
    note = "Upscaled with a plain Lanczos resize: no Real-ESRGAN here"
    (noted,) = env.submit(dispatcher, account, fake_notes=[note])
    (plain,) = env.submit(dispatcher, account)
    assert env.wait(noted, "completed").response == {"notes": [note]}
    assert env.wait(plain, "completed").response is None  # nothing to say, nothing stored


def test_notes_join_what_the_job_stored_before(env: Env) -> None:
    dispatcher, executor = _held(env)
    (job_id,) = env.submit(dispatcher, env.account())
    with env.db.session(write=True) as session:
        # A button job keeps its source image's id in its response from the start.
        stored = session.get(Job, job_id)
        assert stored is not None
        stored.response = {"_source_image": 5}
    env.wait(job_id, "started")
    assert executor.on_event is not None
    executor.on_event(TaskResult(job_id, [_png(1)], [7], 0.5, notes=("one", "two")))
    job = env.wait(job_id, "completed")
    assert job.response == {"_source_image": 5, "notes": ["one", "two"]}
