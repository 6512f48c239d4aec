"""Several jobs as one batch on the diffusers backend: each keeps its own pictures."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dreamloom.engine import Backend, Cancelled, EngineResult, Progress, PromptPart, Recipe
from dreamloom.engine.backends.base import BatchMember


def _pixels(result: EngineResult) -> list[np.ndarray]:
    return [np.asarray(image, dtype=np.int16) for image in result.images]


def test_batched_jobs_give_the_pictures_they_give_alone(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    recipes = [
        recipe(seed=11, negative=(PromptPart("blue"),)),
        recipe(seed=12, positive=(PromptPart("a green ball"),), chaos=0.5),
        recipe(seed=13, positive=(PromptPart("a dog"),), weird=0.4, batch=2),
    ]
    keys = {tiny_backend.batch_key(r) for r in recipes}
    assert len(keys) == 1 and None not in keys
    alone = [tiny_backend.run(r) for r in recipes]
    previews: list[list[Progress]] = [[], [], []]
    batched = tiny_backend.run_batch(
        [BatchMember(r, previews[i].append) for i, r in enumerate(recipes)]
    )
    for single, together in zip(alone, batched, strict=True):
        assert isinstance(together, EngineResult)
        assert together.seeds == single.seeds and len(together.images) == len(single.images)
        for a, b in zip(_pixels(single), _pixels(together), strict=True):
            # Rounding may differ between batch sizes; the picture may not.
            assert np.abs(a - b).max() <= 2
    # Each job hears of every step, and its previews show its own images only.
    assert [len(p) for p in previews] == [6, 6, 6]
    last = [p[-1].preview for p in previews]
    assert all(preview is not None for preview in last)
    assert last[2] is not None and last[0] is not None and last[2].size != last[0].size
    # The batch's time is shared by images: the job of 2 pays half what a job of 4 does.
    first, third = batched[0], batched[2]
    assert isinstance(first, EngineResult) and isinstance(third, EngineResult)
    assert abs(third.compute_seconds * 2 - first.compute_seconds) < 1e-6


def test_a_job_cancelled_in_a_batch_stops_and_the_others_finish(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    recipes = [recipe(seed=21), recipe(seed=22), recipe(seed=23)]
    steps: list[int] = []

    def cancelled() -> bool:
        return len(steps) >= 2  # from the third step on

    members = [
        BatchMember(recipes[0]),
        BatchMember(recipes[1], lambda p: steps.append(p.step), cancelled),
        BatchMember(recipes[2]),
    ]
    first, stopped, last = tiny_backend.run_batch(members)
    assert isinstance(stopped, Cancelled) and stopped.step == 3 and stopped.compute_seconds > 0
    assert steps == [1, 2]
    for alone_recipe, result in ((recipes[0], first), (recipes[2], last)):
        assert isinstance(result, EngineResult)
        for a, b in zip(_pixels(tiny_backend.run(alone_recipe)), _pixels(result), strict=True):
            assert np.abs(a - b).max() <= 2


def test_only_compatible_recipes_share_a_batch(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    base = recipe()
    assert tiny_backend.batch_key(recipe(seed=99)) == tiny_backend.batch_key(base)
    for different in (
        recipe(width=128),
        recipe(steps=5),
        recipe(guidance=3.0),
        recipe(tile=True),
        recipe(stop_fraction=0.5),
    ):
        assert tiny_backend.batch_key(different) != tiny_backend.batch_key(base)
    picture = tiny_backend.run(base).images[0]
    import io

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    variation = recipe(operation="img2img", init_image=buffer.getvalue(), strength=0.5)
    assert tiny_backend.batch_key(variation) is None  # other operations run alone
    # Handed recipes that may not share a run, run_batch runs them one after the other.
    mixed = tiny_backend.run_batch([BatchMember(base), BatchMember(recipe(width=128))])
    assert [r.images[0].size for r in mixed if isinstance(r, EngineResult)] == [(64, 64), (128, 64)]
