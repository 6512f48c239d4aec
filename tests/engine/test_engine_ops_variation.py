"""Variations and Vary (Region) through the real img2img and inpainting pipelines.

Pictures are compared with their source, so the tiny model here has the faithful VAE (its
latents are the picture itself, 8x8-averaged): with the random one nothing of the source
survives a round trip and "closer to the source" could not be measured.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dreamloom.engine import Backend, Cancelled, EngineResult, Progress, PromptPart, Recipe
from dreamloom.engine.backends.diffusers import DiffusersBackend
from dreamloom.engine.images import png_bytes
from dreamloom.engine.models import model_info
from dreamloom.engine.operations import recipe_for_region, recipe_for_variation
from dreamloom.engine.tiny import build_tiny_pipeline
from dreamloom.prompt import parse_prompt

PARENT = Recipe(
    model="tiny",
    width=64,
    height=64,
    seed=1234,
    steps=8,
    guidance=7.5,
    positive=(PromptPart("a lighthouse on a cliff at dusk"),),
)


@pytest.fixture(scope="module")
def backend(single_thread: None) -> DiffusersBackend:
    return DiffusersBackend(build_tiny_pipeline(faithful_vae=True), model_info("tiny"))


def _source(size: tuple[int, int] = (64, 64)) -> Image.Image:
    """A smooth gradient with a disc: structure a variation should keep."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // width, yy * 255 // height, 255 - xx * 128 // width], -1)
    picture = Image.fromarray(rgb.astype(np.uint8))
    ImageDraw.Draw(picture).ellipse(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), "gold"
    )
    return picture


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def _distances(result: EngineResult, source: Image.Image) -> list[float]:
    return [float(np.abs(_pixels(image) - _pixels(source)).mean()) for image in result.images]


def _same(a: EngineResult, b: EngineResult) -> bool:
    return all(
        np.array_equal(_pixels(x), _pixels(y)) for x, y in zip(a.images, b.images, strict=True)
    )


def test_variations_are_four_pictures_at_the_parents_size(backend: Backend) -> None:
    for size in ((64, 64), (96, 48)):
        parent = Recipe(**{**PARENT.__dict__, "width": size[0], "height": size[1]})
        result = backend.run(
            recipe_for_variation(parent, png_bytes(_source(size)), strong=False, seed=5)
        )
        assert [image.size for image in result.images] == [size] * 4
        assert len(set(result.seeds)) == 4


def test_subtle_stays_closer_to_the_source_than_strong(backend: Backend) -> None:
    source = _source()
    subtle = backend.run(recipe_for_variation(PARENT, png_bytes(source), strong=False, seed=5))
    strong = backend.run(recipe_for_variation(PARENT, png_bytes(source), strong=True, seed=5))
    near, far = _distances(subtle, source), _distances(strong, source)
    assert max(near) < min(far), (near, far)
    # Subtle still makes four different pictures, not four copies of the source.
    assert min(near) > 10
    a, b = _pixels(subtle.images[0]), _pixels(subtle.images[1])
    assert np.abs(a - b).mean() > 5


def test_variations_are_deterministic_by_seed(backend: Backend) -> None:
    picture = png_bytes(_source())
    first = backend.run(recipe_for_variation(PARENT, picture, strong=True, seed=7))
    again = backend.run(recipe_for_variation(PARENT, picture, strong=True, seed=7))
    other = backend.run(recipe_for_variation(PARENT, picture, strong=True, seed=8))
    assert _same(first, again) and first.seeds == again.seeds
    assert not _same(first, other) and first.seeds != other.seeds


def test_a_remix_prompt_changes_the_variations(backend: Backend) -> None:
    picture = png_bytes(_source())
    (prompt,) = parse_prompt("a red boat::2 a harbour --no rain --v 6")
    plain = backend.run(recipe_for_variation(PARENT, picture, strong=True, seed=7))
    remixed = backend.run(recipe_for_variation(PARENT, picture, strong=True, seed=7, prompt=prompt))
    assert not _same(plain, remixed)


def test_variation_progress_counts_the_steps_that_run_and_cancel_stops_it(backend: Backend) -> None:
    updates: list[Progress] = []
    recipe = recipe_for_variation(PARENT, png_bytes(_source()), strong=True, seed=7)
    backend.run(recipe, progress=updates.append)
    assert [u.step for u in updates] == [1, 2, 3, 4, 5]  # int(8 steps * 0.7)
    assert {u.total for u in updates} == {5}
    with pytest.raises(Cancelled) as caught:
        backend.run(recipe, progress=None, cancelled=iter([False, False, True]).__next__)
    assert caught.value.step == 2


def test_a_one_step_model_still_runs_a_step_of_a_subtle_variation(backend: Backend) -> None:
    turbo = Recipe(**{**PARENT.__dict__, "steps": 1})
    updates: list[Progress] = []
    backend.run(
        recipe_for_variation(turbo, png_bytes(_source()), strong=False, seed=3), updates.append
    )
    assert [u.step for u in updates] == [1]


def test_tile_reaches_the_variation_pass(backend: Backend) -> None:
    picture = png_bytes(_source())
    tiled = Recipe(**{**PARENT.__dict__, "tile": True})
    plain = backend.run(recipe_for_variation(PARENT, picture, strong=True, seed=7))
    wrapped = backend.run(recipe_for_variation(tiled, picture, strong=True, seed=7))
    assert not _same(plain, wrapped)


def _square_mask(box: tuple[int, int, int, int], size: tuple[int, int] = (64, 64)) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


def test_region_keeps_every_pixel_outside_the_mask_and_repaints_inside(backend: Backend) -> None:
    source = _source()
    mask = _square_mask((16, 24, 40, 48))
    result = backend.run(recipe_for_region(PARENT, png_bytes(source), png_bytes(mask), seed=9))
    assert [image.size for image in result.images] == [(64, 64)] * 4
    selected = np.asarray(mask) > 0
    for image in result.images:
        diff = np.abs(_pixels(image) - _pixels(source)).max(axis=-1)
        assert (diff[~selected] == 0).all()
        assert diff[selected].mean() > 40
    inside = [_pixels(image)[selected] for image in result.images]
    assert np.abs(inside[0] - inside[1]).mean() > 10  # four different repaints


def test_a_thin_stroke_that_misses_latent_cell_corners_is_still_repainted(
    backend: Backend,
) -> None:
    # Columns 10-12 of rows 10-12: no pixel on the 8 px grid the pipeline samples its mask at.
    source = Image.new("RGB", (64, 64), (90, 120, 150))
    mask = _square_mask((10, 10, 13, 13))
    result = backend.run(recipe_for_region(PARENT, png_bytes(source), png_bytes(mask), seed=9))
    selected = np.asarray(mask) > 0
    for image in result.images:
        diff = np.abs(_pixels(image) - _pixels(source)).max(axis=-1)
        assert (diff[~selected] == 0).all() and diff[selected].mean() > 20


def test_region_is_deterministic_by_seed(backend: Backend) -> None:
    picture, mask = png_bytes(_source()), png_bytes(_square_mask((8, 8, 56, 32)))
    first = backend.run(recipe_for_region(PARENT, picture, mask, seed=4))
    again = backend.run(recipe_for_region(PARENT, picture, mask, seed=4))
    other = backend.run(recipe_for_region(PARENT, picture, mask, seed=5))
    assert _same(first, again) and not _same(first, other)


def test_region_on_the_saved_tiny_model_keeps_the_outside_too(tiny_backend: Backend) -> None:
    # The from_pretrained model with its random KL VAE: the paste-back does not depend on the
    # VAE reconstructing anything.
    source = _source()
    mask = _square_mask((0, 0, 32, 64))
    result = tiny_backend.run(recipe_for_region(PARENT, png_bytes(source), png_bytes(mask), seed=2))
    selected = np.asarray(mask) > 0
    for image in result.images:
        diff = np.abs(_pixels(image) - _pixels(source)).max(axis=-1)
        assert (diff[~selected] == 0).all() and diff[selected].mean() > 20
