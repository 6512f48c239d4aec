"""Prompt -> recipe, through the real prompt parser."""

from __future__ import annotations

import numpy as np
import pytest

from dreamloom.engine import Backend, ModelInfo, PromptPart, Recipe, model_info, recipe_for_imagine
from dreamloom.prompt import parse_prompt

SD = ModelInfo("sd", native_size=512, default_steps=30, default_guidance=7.5)


def _recipe(text: str, info: ModelInfo = SD, seed: int = 7) -> Recipe:
    (prompt,) = parse_prompt(text)
    return recipe_for_imagine(prompt, info, seed)


def test_defaults_give_the_models_defaults() -> None:
    recipe = _recipe("a cat")
    assert (recipe.operation, recipe.model, recipe.seed, recipe.batch) == ("imagine", "sd", 7, 4)
    assert (recipe.width, recipe.height, recipe.steps, recipe.guidance) == (512, 512, 30, 7.5)
    assert recipe.positive == (PromptPart("a cat", 1.0),)
    assert recipe.negative == ()
    assert (recipe.chaos, recipe.weird, recipe.tile, recipe.stop_fraction) == (0, 0, False, 1)


def test_aspect_ratio_keeps_the_native_area_in_multiples_of_8() -> None:
    wide, tall = _recipe("a cat --ar 16:9"), _recipe("a cat --ar 2:3")
    for recipe in (wide, tall):
        assert recipe.width % 8 == 0 and recipe.height % 8 == 0
        assert 0.9 < recipe.width * recipe.height / 512**2 < 1.1
    assert abs(wide.width / wide.height - 16 / 9) < 0.02
    assert abs(tall.width / tall.height - 2 / 3) < 0.01


@pytest.mark.parametrize("model", ["sd", "bundled", "tiny"])
def test_every_aspect_ratio_has_its_own_size(model: str) -> None:
    info = model_info(model)
    ratios = ["1:1", "4:3", "3:2", "16:9", "2:1", "3:4", "2:3", "9:16"]
    sizes = {ratio: _size(_recipe(f"a cat --ar {ratio}", info)) for ratio in ratios}
    assert len(set(sizes.values())) == len(ratios), sizes
    for ratio, (width, height) in sizes.items():
        w, h = map(int, ratio.split(":"))
        assert abs(width / height / (w / h) - 1) < 0.06, (ratio, width, height)


def test_bundled_sizes_for_3_2_and_16_9() -> None:
    # Both were 320x192 when sizes snapped to multiples of 64.
    info = model_info("bundled")
    assert _size(_recipe("a fox --ar 3:2", info)) == (312, 208)
    assert _size(_recipe("a fox --ar 16:9", info)) == (344, 192)


def _size(recipe: Recipe) -> tuple[int, int]:
    return recipe.width, recipe.height


def test_tiny_model_sizes_use_the_latent_multiple() -> None:
    recipe = _recipe("a cat --ar 16:9", model_info("tiny"))
    assert recipe.width % 8 == 0 and recipe.height % 8 == 0
    assert recipe.width > recipe.height


def test_quality_draft_and_stop_set_the_step_budget() -> None:
    assert _recipe("a cat --q 2").steps == 60
    assert _recipe("a cat --q 4").steps == 120
    assert _recipe("a cat --draft").steps == 15
    assert _recipe("a cat --v 6 --q .5").steps == 15
    assert _recipe("a cat --v 6 --stop 40").stop_fraction == 0.4


def test_stylize_and_raw_move_guidance_monotonically() -> None:
    guidance = [_recipe(f"a cat --s {s}").guidance for s in (0, 100, 500, 1000)]
    assert guidance == sorted(guidance) and len(set(guidance)) == 4
    assert _recipe("a cat --raw").guidance < _recipe("a cat").guidance
    assert _recipe("a cat --s 750").stylize == 750


def test_weights_and_no_split_into_positive_and_negative_parts() -> None:
    # Multi-prompts are a V6 feature in the prompt language.
    recipe = _recipe("a castle::2 moat::1 people::-0.5 --no fog, rain --v 6.1")
    assert recipe.positive == (PromptPart("a castle", 2.0), PromptPart("moat", 1.0))
    assert set(recipe.negative) == {
        PromptPart("people", 0.5),
        PromptPart("fog", 0.5),
        PromptPart("rain", 0.5),
    }


def test_chaos_weird_and_tile_are_passed_through_scaled() -> None:
    recipe = _recipe("a cat --chaos 50 --weird 3000 --tile")
    assert (recipe.chaos, recipe.weird, recipe.tile) == (0.5, 1.0, True)


def test_turbo_models_keep_their_guidance_free_defaults() -> None:
    recipe = _recipe("a cat --s 1000 --q 2", model_info("stabilityai/sd-turbo"))
    assert (recipe.steps, recipe.guidance) == (2, 0.0)


def test_recipe_from_a_prompt_round_trips() -> None:
    recipe = _recipe("a castle::2 people::-1 --ar 3:2 --chaos 20 --no fog --v 6.1")
    assert Recipe.from_dict(recipe.to_dict()) == recipe


def test_stylize_changes_the_pictures_end_to_end(tiny_backend: Backend) -> None:
    info = tiny_backend.info
    low, high = _recipe("a cat --s 0", info), _recipe("a cat --s 1000", info)
    assert low.guidance < info.default_guidance < high.guidance
    a, b = tiny_backend.run(low), tiny_backend.run(high)
    difference = np.mean(
        [
            np.abs(np.asarray(x, float) - np.asarray(y, float)).mean()
            for x, y in zip(a.images, b.images, strict=True)
        ]
    )
    assert difference > 0.5


def test_stylize_moves_the_conditioning_scale_on_guidance_free_models_only() -> None:
    turbo = model_info("stabilityai/sd-turbo")
    assert turbo.default_guidance <= 1 and not turbo.supports_negative
    scales = [_recipe(f"a cat --s {s}", turbo).conditioning_scale for s in (0, 100, 1000)]
    assert scales[0] < scales[1] == 1.0 < scales[2]
    assert _recipe("a cat --style raw", turbo).conditioning_scale < 1.0
    assert {_recipe(f"a cat --s {s}", turbo).guidance for s in (0, 1000)} == {0.0}
    # Guided models keep stylize on guidance, and the conditioning as encoded.
    assert {_recipe(f"a cat --s {s}").conditioning_scale for s in (0, 1000)} == {1.0}
