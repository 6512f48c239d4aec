"""Compose a batch into one grid image and cut it apart again (U1-U4 take single images)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image


def grid_shape(count: int) -> tuple[int, int]:
    """(columns, rows): two columns as soon as there are two images, so 4 gives the 2x2 grid."""
    if count < 1:
        raise ValueError("a grid needs at least one image")
    columns = 1 if count == 1 else 2
    return columns, math.ceil(count / columns)


def make_grid(images: Sequence[Image.Image]) -> Image.Image:
    """Paste equal-size images row by row; a missing last cell stays black."""
    columns, rows = grid_shape(len(images))
    width, height = images[0].size
    if any(image.size != (width, height) for image in images):
        raise ValueError("grid images must all have the same size")
    grid = Image.new(images[0].mode, (columns * width, rows * height))
    for index, image in enumerate(images):
        grid.paste(image, ((index % columns) * width, (index // columns) * height))
    return grid


def split_grid(grid: Image.Image, count: int = 4) -> list[Image.Image]:
    """Inverse of `make_grid` for a grid of `count` images."""
    columns, rows = grid_shape(count)
    if grid.width % columns or grid.height % rows:
        raise ValueError(f"a {grid.width}x{grid.height} grid does not divide into {count} cells")
    width, height = grid.width // columns, grid.height // rows
    return [
        grid.crop(
            (
                (i % columns) * width,
                (i // columns) * height,
                (i % columns + 1) * width,
                (i // columns + 1) * height,
            )
        )
        for i in range(count)
    ]
