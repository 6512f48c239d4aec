"""Running a describe task inside a worker: the stored image in, four prompts out.

Shared by every runner, so that a describe job gives the same prompts whichever runner the
server uses; the engine runner asks the bundled model, runners without a model
(``use_model=False``) measure the pixels only.
"""

from __future__ import annotations

import time

from dreamloom.engine.describe import DescribeRecipe, describe_prompts
from dreamloom.jobs.executor.base import RunnerOutput, Task
from dreamloom.safety.images import decode_checked


def run_describe(task: Task, *, use_model: bool = True) -> RunnerOutput:
    # Keys starting with "_" are the dispatcher's notes to runners (the moderation threshold),
    # and "fake_" ones steer the test runner: neither is part of the recipe.
    recipe = DescribeRecipe.from_dict(
        {k: v for k, v in task.recipe.items() if not k.startswith(("_", "fake_"))}
    )
    started = time.perf_counter()
    image = decode_checked(recipe.image).convert("RGB")
    prompts = describe_prompts(image, use_model=use_model)
    return RunnerOutput([], [], time.perf_counter() - started, prompts=tuple(prompts))
