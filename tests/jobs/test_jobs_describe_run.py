"""Describe as a recipe: stored, shipped to a worker and run there to the same four prompts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from test_jobs_dispatcher import Env

from dreamloom.engine.describe import DescribeRecipe, describe_prompts, from_pixels, is_describe
from dreamloom.jobs.executor import engine_runner, fake, instant
from dreamloom.jobs.executor.base import RunnerOutput, Task, TaskCalls
from dreamloom.jobs.outputs import LEGACY_DESCRIBE_ERROR, describe_response
from dreamloom.jobs.submit import submit_jobs
from dreamloom.store.jobs_repo import JobSpec


def _png(size: tuple[int, int], rgb: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, rgb).save(out, format="PNG")
    return out.getvalue()


def _task(recipe: dict[str, object], tmp_path: Path) -> Task:
    return Task("d1", "tiny", tmp_path, "cpu", recipe)


def test_a_describe_recipe_round_trips_and_refuses_strangers() -> None:
    recipe = DescribeRecipe(image=b"\x89PNG...")
    data = recipe.to_dict()
    assert is_describe(data) and not is_describe({"operation": "imagine"}) and not is_describe(None)
    assert DescribeRecipe.from_dict(data) == recipe
    with pytest.raises(ValueError):
        DescribeRecipe.from_dict({**data, "steps": 4})


def test_the_engine_runner_describes_as_the_service_did(tmp_path: Path) -> None:
    data = _png((96, 64), (220, 30, 30))
    recipe = {**DescribeRecipe(image=data).to_dict(), "_moderation_threshold": 0.8}
    calls = TaskCalls(lambda *a: None, lambda: False)
    (output,) = engine_runner.RUNNER.run([_task(recipe, tmp_path)], [calls])
    assert isinstance(output, RunnerOutput)
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    assert list(output.prompts) == describe_prompts(picture)
    assert len(output.prompts) == 4 and all(p.endswith("--ar 3:2") for p in output.prompts)
    assert output.images == [] and output.compute_seconds > 0


@pytest.mark.parametrize("runner", [fake.run, instant.run], ids=["fake", "instant"])
def test_runners_without_a_model_describe_from_the_pixels(runner: object, tmp_path: Path) -> None:
    data = _png((64, 64), (20, 40, 220))
    task = _task(DescribeRecipe(image=data).to_dict(), tmp_path)
    output = runner(task, lambda *a: None, lambda: False)  # type: ignore[operator]
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    assert list(output.prompts) == [f"{p} --ar 1:1" for p in from_pixels(picture)]


def test_the_stored_response_numbers_the_prompts() -> None:
    response = describe_response(["a", "b", "c", "d"])
    assert response["prompts"] == ["a", "b", "c", "d"]
    assert response["content"] == "1️⃣ a\n\n2️⃣ b\n\n3️⃣ c\n\n4️⃣ d"
    assert response["embeds"] == [{"description": response["content"]}]


def _describe(env: Env, account: int, recipe: dict[str, object] | None) -> str:
    spec = JobSpec(verb="describe", mode="fast", job_type="text", recipe=recipe)
    with env.db.session(write=True) as session:
        (job,) = submit_jobs(session, account, [spec], env.plans)
    return job.id


def test_the_dispatcher_runs_a_describe_records_its_prompts_and_charges_it(env: Env) -> None:
    dispatcher = env.dispatcher()
    account = env.account()
    data = _png((96, 64), (220, 30, 30))
    job_id = _describe(env, account, DescribeRecipe(image=data).to_dict())
    # A describe queued by the version that ran it beside the queue has no image stored.
    legacy = _describe(env, account, None)
    dispatcher.start()
    done = env.wait(job_id, "completed")
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    expected = [f"{p} --ar 3:2" for p in from_pixels(picture)]
    assert done.response is not None and done.response["prompts"] == expected
    assert done.response["content"].startswith("1️⃣ ") and env.images(job_id) == []
    assert done.recipe == {"operation": "describe"}  # the picture is not kept once described
    (line,) = env.ledger(job_id)
    assert line.gpu_seconds > 0 and line.charged_seconds > 0
    assert env.wait(legacy, "failed").error == LEGACY_DESCRIBE_ERROR
