"""`--no`, negative `::` weights and `--stylize` on a guidance-free model (SD-Turbo's kind: guidance
at or below 1, so the pipeline never runs classifier-free guidance and never reads a negative
embedding). The tiny pipeline runs the same way at guidance 0."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dreamloom.engine import Backend, ModelInfo, PromptPart, Recipe, recipe_for_imagine
from dreamloom.prompt import parse_prompt

TURBO_TINY = ModelInfo(
    "tiny", native_size=64, default_steps=2, default_guidance=0.0, supports_negative=False
)


def _pixels(backend: Backend, recipe: Recipe) -> np.ndarray:
    return np.stack([np.asarray(image, dtype=np.float64) for image in backend.run(recipe).images])


def _prompt(text: str) -> Recipe:
    return recipe_for_imagine(parse_prompt(text)[0], TURBO_TINY, seed=1234)


def test_the_recipe_runs_without_guidance() -> None:
    recipe = _prompt("a lighthouse --no fog")
    assert recipe.guidance == 0.0
    assert recipe.negative == (PromptPart("fog", 0.5),)


def test_no_changes_the_picture_more_with_a_larger_weight(tiny_backend: Backend) -> None:
    plain = _pixels(tiny_backend, _prompt("a lighthouse"))
    no = _pixels(tiny_backend, _prompt("a lighthouse --no fog"))
    weighted = _pixels(tiny_backend, _prompt("a lighthouse::2 fog::-1 --v 6"))
    assert 0.1 < np.abs(no - plain).mean() < np.abs(weighted - plain).mean()
    # Another negative text, another picture.
    other = _pixels(tiny_backend, _prompt("a lighthouse --no red boats"))
    assert np.abs(other - no).mean() > 0.1


def test_stylize_changes_the_picture(tiny_backend: Backend) -> None:
    default = _pixels(tiny_backend, _prompt("a lighthouse"))
    assert np.array_equal(default, _pixels(tiny_backend, _prompt("a lighthouse --s 100")))
    low = _pixels(tiny_backend, _prompt("a lighthouse --s 0"))
    high = _pixels(tiny_backend, _prompt("a lighthouse --s 1000"))
    assert np.abs(low - default).mean() > 0.1
    assert np.abs(high - default).mean() > 0.1
    assert np.abs(high - low).mean() > max(np.abs(high - default).mean(), 0.1)


def test_guided_runs_keep_the_negative_in_guidance(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    # On a guided run the conditioning is not moved: the negative acts through guidance.
    plain = _pixels(tiny_backend, recipe(steps=2))
    scaled = _pixels(tiny_backend, recipe(steps=2, conditioning_scale=1.0))
    negative = _pixels(tiny_backend, recipe(steps=2, negative=(PromptPart("fog", 0.5),)))
    assert np.array_equal(plain, scaled)
    assert np.abs(negative - plain).mean() > 0.1
