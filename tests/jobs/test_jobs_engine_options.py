"""The engine's speed options travel from Settings to the worker that loads the model."""

from __future__ import annotations

import pickle
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dreamloom.config import Settings
from dreamloom.engine.options import Attention, CompileMode, EngineOptions
from dreamloom.events import EventBus
from dreamloom.jobs.executor import engine_runner
from dreamloom.jobs.executor.base import Task
from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.submit import submit_jobs
from dreamloom.jobs.wiring import build_dispatcher
from dreamloom.store import accounts
from dreamloom.store.db import Database
from dreamloom.store.jobs_repo import JobSpec

OPTIONS = EngineOptions(
    compile=True,
    compile_mode=CompileMode.MAX_AUTOTUNE_NO_CUDAGRAPHS,
    channels_last=True,
    attention=Attention.CLASSIC,
)


class TaskCatcher:
    """An executor that only keeps the tasks it is given."""

    slots = 1
    shares_disk = False

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    @property
    def free(self) -> int:
        return self.slots - len(self.tasks)

    def start(self, on_event: Callable[[Any], None]) -> None:
        pass

    def submit(self, task: Task) -> None:
        self.tasks.append(task)

    def cancel(self, job_id: str) -> bool:
        return False

    def stop(self) -> None:
        pass


def test_the_dispatcher_gives_every_task_the_settings_engine_options(
    db: Database, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        model="tiny",
        compile=True,
        compile_mode="max-autotune-no-cudagraphs",
        channels_last=True,
        attention="classic",
    )
    assert settings.engine_options == OPTIONS
    executor = TaskCatcher()
    dispatcher = build_dispatcher(settings, db, EventBus(), executor=executor)
    dispatcher.start()
    try:
        with db.session(write=True) as session:
            account = accounts.create_account(session, "ada", "standard")
            spec = JobSpec(verb="imagine", mode="fast", prompt_text="a cat", recipe={}, seed=1)
            jobs = submit_jobs(session, account.id, [spec], PlanBook())
        dispatcher.submitted(jobs)
        deadline = time.monotonic() + 10
        while not executor.tasks and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        dispatcher.stop()
    (task,) = executor.tasks
    assert task.engine_options == OPTIONS
    # It crosses to the worker process as the rest of the task does.
    assert pickle.loads(pickle.dumps(task)) == task


def test_the_engine_runner_loads_with_the_tasks_options_and_keeps_them_apart(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import dreamloom.engine

    loads: list[EngineOptions] = []

    def load_backend(
        ref: str, *, cache_dir: Path, device: str, options: EngineOptions, ip_adapter: str | None
    ) -> Any:
        loads.append(options)
        return object()

    monkeypatch.setattr(dreamloom.engine, "load_backend", load_backend)
    monkeypatch.setattr(engine_runner, "_loaded", OrderedDict())

    def task(options: EngineOptions) -> Task:
        return Task("job", "tiny", tmp_path, "cpu", {}, engine_options=options)

    plain = engine_runner._backend(task(EngineOptions()))
    assert engine_runner._backend(task(EngineOptions())) is plain  # loaded once, kept
    fast = engine_runner._backend(task(OPTIONS))
    assert fast is not plain  # other options are another model in memory
    assert loads == [EngineOptions(), OPTIONS]


def test_settings_refuse_options_that_could_not_act(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("DREAMLOOM_COMPILE_MODE", "max-autotune")
    with pytest.raises(ValidationError, match="needs compile"):
        Settings()
    monkeypatch.setenv("DREAMLOOM_COMPILE", "1")
    with pytest.raises(ValidationError, match="CUDA graphs"):
        Settings(device="cpu")
    assert Settings(device="cuda").engine_options.compile_mode is CompileMode.MAX_AUTOTUNE
    monkeypatch.setenv("DREAMLOOM_ATTENTION", "flash")
    with pytest.raises(ValidationError, match="attention"):
        Settings(device="cuda")
    monkeypatch.delenv("DREAMLOOM_COMPILE_MODE")
    monkeypatch.delenv("DREAMLOOM_COMPILE")
    monkeypatch.delenv("DREAMLOOM_ATTENTION")
    assert Settings().engine_options == EngineOptions()
