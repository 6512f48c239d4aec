"""The button recipe builders: plain data, the parent's settings carried, new seeds."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dreamloom.engine import ModelInfo, PromptPart, Recipe
from dreamloom.engine.images import open_rgb, png_bytes
from dreamloom.engine.masks import MaskError
from dreamloom.engine.operations import (
    CREATIVE_STRENGTH,
    STRONG_STRENGTH,
    SUBTLE_STRENGTH,
    recipe_for_outpaint,
    recipe_for_region,
    recipe_for_upscale,
    recipe_for_variation,
)
from dreamloom.prompt import parse_prompt

PARENT = Recipe(
    model="sd",
    width=512,
    height=512,
    seed=11,
    steps=30,
    guidance=9.0,
    positive=(PromptPart("a lighthouse", 1.0),),
    negative=(PromptPart("fog", 0.5),),
    chaos=0.2,
    stylize=250,
)
SD = ModelInfo("sd", native_size=512, default_steps=30, default_guidance=7.5)


def _picture(size: tuple[int, int] = (512, 512)) -> bytes:
    picture = Image.new("RGB", size, (30, 60, 200))
    ImageDraw.Draw(picture).ellipse((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), "red")
    return png_bytes(picture)


def _mask(size: tuple[int, int] = (512, 512)) -> bytes:
    mask = Image.new("L", size, 0)
    mask.paste(255, (100, 100, 200, 300))
    return png_bytes(mask)


def test_variations_are_img2img_of_the_picture_at_the_parents_size() -> None:
    subtle = recipe_for_variation(PARENT, _picture(), strong=False, seed=99)
    strong = recipe_for_variation(PARENT, _picture(), strong=True, seed=99)
    for recipe in (subtle, strong):
        assert (recipe.operation, recipe.batch, recipe.seed) == ("img2img", 4, 99)
        assert (recipe.width, recipe.height) == (512, 512)
        assert recipe.init_image == _picture() and recipe.mask is None
        # Everything else carries over from the parent.
        assert (recipe.model, recipe.steps, recipe.guidance, recipe.chaos) == ("sd", 30, 9.0, 0.2)
        assert recipe.positive == PARENT.positive and recipe.negative == PARENT.negative
    assert subtle.strength == SUBTLE_STRENGTH < STRONG_STRENGTH == strong.strength


def test_a_picture_of_another_size_is_brought_to_the_parents() -> None:
    recipe = recipe_for_variation(PARENT, _picture((1024, 1024)), strong=False, seed=1)
    assert recipe.init_image is not None
    assert open_rgb(recipe.init_image).size == (512, 512)


def test_a_remix_prompt_replaces_only_the_text_conditioning() -> None:
    (prompt,) = parse_prompt("a red boat::2 harbour --no rain --s 900 --v 6")
    recipe = recipe_for_variation(PARENT, _picture(), strong=True, seed=3, prompt=prompt)
    assert recipe.positive == (PromptPart("a red boat", 2.0), PromptPart("harbour", 1.0))
    assert recipe.negative == (PromptPart("rain", 0.5),)
    assert (recipe.guidance, recipe.stylize) == (PARENT.guidance, PARENT.stylize)


def test_region_carries_the_binary_mask_and_repaints_fully() -> None:
    recipe = recipe_for_region(PARENT, _picture(), _mask(), seed=5)
    assert (recipe.operation, recipe.batch, recipe.strength) == ("inpaint", 4, 1.0)
    assert recipe.mask is not None
    mask = np.asarray(Image.open(__import__("io").BytesIO(recipe.mask)))
    assert mask.shape == (512, 512) and set(np.unique(mask)) == {0, 255}
    assert (mask == 255).sum() == 100 * 200


def test_region_refuses_empty_and_misshapen_masks() -> None:
    with pytest.raises(MaskError, match="selects nothing"):
        recipe_for_region(PARENT, _picture(), png_bytes(Image.new("L", (512, 512))), seed=5)
    with pytest.raises(MaskError, match="but the image is 512x512"):
        recipe_for_region(PARENT, _picture(), _mask((300, 100)), seed=5)


def test_outpaint_zoom_builds_the_canvas_and_its_mask() -> None:
    roomy = ModelInfo("sd", native_size=1024)
    recipe = recipe_for_outpaint(PARENT, _picture(), zoom=1.5, seed=8, info=roomy)
    assert (recipe.operation, recipe.batch, recipe.strength, recipe.tile) == (
        "outpaint",
        4,
        1.0,
        False,
    )
    assert (recipe.width, recipe.height) == (768, 768)
    assert recipe.init_image is not None and recipe.mask is not None
    canvas = np.asarray(open_rgb(recipe.init_image))
    assert np.array_equal(canvas[128:640, 128:640], np.asarray(open_rgb(_picture())))
    mask = np.asarray(Image.open(__import__("io").BytesIO(recipe.mask)))
    assert (mask[128:640, 128:640] == 0).all() and (mask[:128] == 255).all()


def test_outpaint_stays_within_the_models_pixel_budget() -> None:
    recipe = recipe_for_outpaint(PARENT, _picture(), zoom=2, seed=8, info=SD)
    assert recipe.width * recipe.height <= 1.6 * 512 * 512
    assert recipe.width % 8 == 0 and recipe.height % 8 == 0
    # Without `info` the parent's area stands in for the native one: the same answer here.
    assert recipe_for_outpaint(PARENT, _picture(), zoom=2, seed=8).width == recipe.width


def test_outpaint_needs_exactly_one_kind() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        recipe_for_outpaint(PARENT, _picture(), seed=8)
    with pytest.raises(ValueError, match="already square"):
        recipe_for_outpaint(PARENT, _picture(), make_square=True, seed=8)


@pytest.mark.parametrize(
    ("mode", "side", "strength"),
    [
        ("subtle", 1024, None),
        ("creative", 1024, CREATIVE_STRENGTH),
        ("2x", 1024, None),
        ("4x", 2048, None),
    ],
)
def test_upscales_are_one_picture_at_the_scaled_size(
    mode: str, side: int, strength: float | None
) -> None:
    recipe = recipe_for_upscale(_picture(), mode=mode, seed=4, parent=PARENT)  # type: ignore[arg-type]
    assert (recipe.operation, recipe.batch, recipe.seed) == ("upscale", 1, 4)
    assert (recipe.width, recipe.height, recipe.strength) == (side, side, strength)
    assert recipe.init_image == _picture() and recipe.positive == PARENT.positive


def test_an_upscale_without_a_parent_uses_the_models_defaults() -> None:
    recipe = recipe_for_upscale(_picture((96, 64)), mode="creative", seed=4, parent=None, info=SD)
    assert (recipe.model, recipe.steps, recipe.guidance) == ("sd", 30, 7.5)
    assert (recipe.width, recipe.height) == (192, 128)
    with pytest.raises(ValueError, match="upscale mode"):
        recipe_for_upscale(_picture(), mode="8x", seed=4, parent=None)  # type: ignore[arg-type]


def test_operation_recipes_pickle_and_round_trip_through_json() -> None:
    recipes = [
        recipe_for_variation(PARENT, _picture(), strong=False, seed=1),
        recipe_for_region(PARENT, _picture(), _mask(), seed=2),
        recipe_for_outpaint(PARENT, _picture(), pan="left", seed=3, info=SD),
        recipe_for_upscale(_picture(), mode="creative", seed=4, parent=PARENT),
    ]
    for recipe in recipes:
        assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
        assert pickle.loads(pickle.dumps(recipe)) == recipe
