"""Outpainting geometry: Zoom Out, the pans and Make Square, within the pixel budget."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dreamloom.engine.canvas import PIXEL_BUDGET, compose, plan_canvas

TINY_BUDGET = PIXEL_BUDGET * 64 * 64
ROOMY_BUDGET = PIXEL_BUDGET * 256 * 256


def test_zoom_2x_doubles_the_canvas_with_the_original_in_the_centre() -> None:
    canvas = plan_canvas((64, 48), zoom=2, budget_area=ROOMY_BUDGET)
    assert (canvas.width, canvas.height) == (128, 96)
    assert canvas.box == (32, 24, 64, 48) and not canvas.resampled


def test_a_canvas_beyond_the_budget_is_scaled_down_with_the_original() -> None:
    canvas = plan_canvas((64, 64), zoom=2, budget_area=TINY_BUDGET)
    assert canvas.width * canvas.height <= TINY_BUDGET
    assert canvas.width % 8 == 0 and canvas.width == canvas.height
    left, top, width, height = canvas.box
    assert canvas.resampled and width == height == canvas.width // 2  # still a 2x zoom
    assert (left, top) == ((canvas.width - width) // 2, (canvas.height - height) // 2)


@pytest.mark.parametrize("zoom", [1.5, 1.25, 1.05, 2.0])
def test_custom_zoom_grows_by_its_factor_in_whole_latent_cells(zoom: float) -> None:
    canvas = plan_canvas((512, 512), zoom=zoom, budget_area=PIXEL_BUDGET * 1024**2)
    assert canvas.width % 8 == 0 and canvas.height % 8 == 0
    assert canvas.box[2:] == (512, 512)
    assert canvas.width > 512 and abs(canvas.width / 512 - zoom) < 8 / 512


@pytest.mark.parametrize("zoom", [1.0, 0.5, 2.5])
def test_zoom_outside_1_to_2_is_refused(zoom: float) -> None:
    with pytest.raises(ValueError, match="zoom must be"):
        plan_canvas((64, 64), zoom=zoom, budget_area=ROOMY_BUDGET)


@pytest.mark.parametrize(
    ("pan", "size", "left_top"),
    [
        ("right", (96, 64), (0, 0)),
        ("left", (96, 64), (32, 0)),
        ("down", (64, 96), (0, 0)),
        ("up", (64, 96), (0, 32)),
    ],
)
def test_pans_extend_by_half_a_side_towards_their_direction(
    pan: str, size: tuple[int, int], left_top: tuple[int, int]
) -> None:
    canvas = plan_canvas((64, 64), pan=pan, budget_area=TINY_BUDGET)  # type: ignore[arg-type]
    assert (canvas.width, canvas.height) == size
    assert canvas.box == (*left_top, 64, 64)


def test_make_square_centres_the_picture_on_its_long_side() -> None:
    wide = plan_canvas((96, 48), make_square=True, budget_area=ROOMY_BUDGET)
    assert (wide.width, wide.height) == (96, 96) and wide.box == (0, 24, 96, 48)
    tall = plan_canvas((40, 72), make_square=True, budget_area=ROOMY_BUDGET)
    assert (tall.width, tall.height) == (72, 72) and tall.box == (16, 0, 40, 72)
    with pytest.raises(ValueError, match="already square"):
        plan_canvas((64, 64), make_square=True, budget_area=ROOMY_BUDGET)


def test_exactly_one_kind_of_outpainting_is_asked_for() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        plan_canvas((64, 64), budget_area=ROOMY_BUDGET)
    with pytest.raises(ValueError, match="exactly one"):
        plan_canvas((64, 64), zoom=2, pan="left", budget_area=ROOMY_BUDGET)


def test_compose_puts_the_original_in_its_box_and_masks_the_rest() -> None:
    rng = np.random.default_rng(1)
    original = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    canvas = plan_canvas((64, 48), zoom=2, budget_area=ROOMY_BUDGET)
    picture, mask = compose(original, canvas)
    assert picture.size == mask.size == (128, 96)
    left, top, width, height = canvas.box
    inner = np.asarray(picture)[top : top + height, left : left + width]
    assert np.array_equal(inner, np.asarray(original))
    opened = np.asarray(mask) == 255
    assert not opened[top : top + height, left : left + width].any()
    assert opened.sum() == 128 * 96 - 64 * 48
