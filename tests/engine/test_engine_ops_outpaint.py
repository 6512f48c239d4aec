"""Zoom Out, the pans and Make Square through the real inpainting pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dreamloom.engine import Backend, ModelInfo, PromptPart, Recipe
from dreamloom.engine.backends.diffusers import DiffusersBackend
from dreamloom.engine.canvas import compose, plan_canvas
from dreamloom.engine.images import open_rgb, png_bytes
from dreamloom.engine.models import model_info
from dreamloom.engine.operations import recipe_for_outpaint
from dreamloom.engine.tiny import build_tiny_pipeline

PARENT = Recipe(
    model="tiny",
    width=64,
    height=64,
    seed=1234,
    steps=6,
    guidance=7.5,
    positive=(PromptPart("a lighthouse on a cliff at dusk"),),
)
# A model of twice the tiny one's side: a 2x zoom of a 64 px picture fits its budget unscaled.
ROOMY = ModelInfo("tiny", native_size=128)


@pytest.fixture(scope="module")
def backend(single_thread: None) -> DiffusersBackend:
    return DiffusersBackend(build_tiny_pipeline(faithful_vae=True), model_info("tiny"))


def _source(size: tuple[int, int] = (64, 64)) -> Image.Image:
    rng = np.random.default_rng(3)
    picture = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    ImageDraw.Draw(picture).ellipse((8, 8, size[0] - 8, size[1] - 8), "gold")
    return picture


def _region(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, width, height = box
    return np.asarray(image, dtype=np.int64)[top : top + height, left : left + width]


def _outside(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, width, height = box
    keep = np.ones((image.height, image.width), dtype=bool)
    keep[top : top + height, left : left + width] = False
    return np.asarray(image, dtype=np.int64)[keep]


def test_zoom_2x_doubles_the_canvas_and_keeps_the_original_in_the_centre(
    backend: Backend,
) -> None:
    source = _source()
    recipe = recipe_for_outpaint(PARENT, png_bytes(source), zoom=2, seed=5, info=ROOMY)
    result = backend.run(recipe)
    assert [image.size for image in result.images] == [(128, 128)] * 4
    for image in result.images:
        assert np.array_equal(_region(image, (32, 32, 64, 64)), np.asarray(source))
    # The new frame is generated: it is neither the canvas fill nor the same in all four.
    canvas = open_rgb(recipe.init_image or b"")
    frames = [_outside(image, (32, 32, 64, 64)) for image in result.images]
    assert np.abs(frames[0] - _outside(canvas, (32, 32, 64, 64))).mean() > 20
    assert np.abs(frames[0] - frames[1]).mean() > 10


def test_zoom_beyond_the_budget_shrinks_the_original_into_the_centre(backend: Backend) -> None:
    source = _source()
    recipe = recipe_for_outpaint(PARENT, png_bytes(source), zoom=2, seed=5)  # tiny: 64 px
    result = backend.run(recipe)
    side = result.images[0].width
    assert result.images[0].size == (side, side) and side * side <= 1.6 * 64 * 64
    box = plan_canvas((64, 64), zoom=2, budget_area=1.6 * 64 * 64).box
    assert box[2] == side // 2 and box[:2] == ((side - box[2]) // 2,) * 2
    shrunk = np.asarray(source.resize(box[2:], Image.Resampling.LANCZOS))
    for image in result.images:
        assert np.array_equal(_region(image, box), shrunk)


@pytest.mark.parametrize(
    ("pan", "size", "box"),
    [
        ("left", (96, 64), (32, 0, 64, 64)),
        ("right", (96, 64), (0, 0, 64, 64)),
        ("up", (64, 96), (0, 32, 64, 64)),
        ("down", (64, 96), (0, 0, 64, 64)),
    ],
)
def test_each_pan_extends_its_side_and_keeps_the_original(
    backend: Backend, pan: str, size: tuple[int, int], box: tuple[int, int, int, int]
) -> None:
    source = _source()
    recipe = recipe_for_outpaint(PARENT, png_bytes(source), pan=pan, seed=6)  # type: ignore[arg-type]
    result = backend.run(recipe)
    assert [image.size for image in result.images] == [size] * 4
    for image in result.images:
        assert np.array_equal(_region(image, box), np.asarray(source))
    canvas = open_rgb(recipe.init_image or b"")
    assert np.abs(_outside(result.images[0], box) - _outside(canvas, box)).mean() > 20


def test_make_square_gives_a_square_with_the_picture_in_the_middle(backend: Backend) -> None:
    source = _source((96, 48))
    recipe = recipe_for_outpaint(PARENT, png_bytes(source), make_square=True, seed=7, info=ROOMY)
    result = backend.run(recipe)
    assert [image.size for image in result.images] == [(96, 96)] * 4
    for image in result.images:
        assert np.array_equal(_region(image, (0, 24, 96, 48)), np.asarray(source))


def test_outpaint_is_deterministic_by_seed(backend: Backend) -> None:
    picture = png_bytes(_source())
    runs = [
        backend.run(recipe_for_outpaint(PARENT, picture, pan="left", seed=s)) for s in (1, 1, 2)
    ]
    pixels = [[np.asarray(image) for image in run.images] for run in runs]
    assert all(np.array_equal(a, b) for a, b in zip(pixels[0], pixels[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(pixels[0], pixels[2], strict=True))


def test_the_canvas_fill_carries_the_pictures_colours_outwards() -> None:
    red = Image.new("RGB", (64, 64), (200, 30, 30))
    picture, _ = compose(red, plan_canvas((64, 64), zoom=2, budget_area=1.6 * 128 * 128))
    corner = np.asarray(picture)[:16, :16].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 150 and corner[1] < 80
