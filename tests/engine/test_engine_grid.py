from __future__ import annotations

import pytest
from PIL import Image

from dreamloom.engine import make_grid, split_grid


def _tiles(size: tuple[int, int] = (32, 24)) -> list[Image.Image]:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    return [Image.new("RGB", size, colour) for colour in colours]


def test_four_images_make_a_2x2_grid_in_reading_order() -> None:
    grid = make_grid(_tiles())
    assert grid.size == (64, 48)
    assert grid.getpixel((0, 0)) == (255, 0, 0)
    assert grid.getpixel((63, 0)) == (0, 255, 0)
    assert grid.getpixel((0, 47)) == (0, 0, 255)
    assert grid.getpixel((63, 47)) == (255, 255, 0)


def test_split_grid_inverts_make_grid() -> None:
    tiles = _tiles()
    parts = split_grid(make_grid(tiles))
    assert [p.tobytes() for p in parts] == [t.tobytes() for t in tiles]


def test_grid_refuses_mixed_sizes_and_empty_input() -> None:
    with pytest.raises(ValueError):
        make_grid([*_tiles()[:3], Image.new("RGB", (8, 8))])
    with pytest.raises(ValueError):
        make_grid([])
