"""One job through the real engine (the "tiny" random pipeline) in a worker process."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from dreamloom.events import EventBus
from dreamloom.jobs.dispatcher import Dispatcher
from dreamloom.jobs.executor.base import ENGINE_RUNNER
from dreamloom.jobs.executor.local import LocalExecutor
from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.submit import submit_jobs
from dreamloom.store import accounts, jobs_repo
from dreamloom.store.db import Database, upgrade
from dreamloom.store.files import ImageFiles
from dreamloom.store.jobs_repo import JobSpec

engine = pytest.importorskip("dreamloom.engine")
prompt = pytest.importorskip("dreamloom.prompt")


@pytest.mark.slow
def test_tiny_model_job_completes_with_a_grid(tmp_path: Path) -> None:
    models = tmp_path / "models"
    parsed = prompt.parse_prompt("a red cube --ar 3:2")[0]
    recipe = engine.recipe_for_imagine(parsed, engine.model_info("tiny", models), 123)
    recipe = dataclasses.replace(recipe, steps=2)  # the plumbing is under test, not quality
    db = Database(f"sqlite:///{tmp_path / 'engine.db'}")
    upgrade(db)
    files = ImageFiles(tmp_path / "images")
    dispatcher = Dispatcher(
        db,
        LocalExecutor(1),
        files,
        PlanBook(),
        EventBus(),
        cache_dir=models,
        backend_ref="tiny",
        runner=ENGINE_RUNNER,
    )
    dispatcher.start()
    try:
        with db.session(write=True) as session:
            account = accounts.create_account(session, "ada", "standard")
            spec = JobSpec(
                verb="imagine",
                mode="fast",
                prompt_text=parsed.text,
                prompt=parsed.to_dict(),
                recipe=recipe.to_dict(),
                seed=123,
            )
            jobs = submit_jobs(session, account.id, [spec], PlanBook())
        dispatcher.submitted(jobs)
        deadline = time.monotonic() + 240
        while True:
            with db.session() as session:
                job = jobs_repo.get_job(session, jobs[0].id)
                assert job is not None
                images = jobs_repo.images_of_job(session, job.id)
            if job.status in ("completed", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (job.status, job.error) == ("completed", None)
        assert [i.index for i in images] == [0, 1, 2, 3, 4]
        single = images[1]
        assert (single.width, single.height) == (recipe.width, recipe.height)
        assert (images[0].width, images[0].height) == (2 * recipe.width, 2 * recipe.height)
        assert job.gpu_seconds > 0 and job.cost_seconds == pytest.approx(job.gpu_seconds)
    finally:
        dispatcher.stop()
        db.dispose()
