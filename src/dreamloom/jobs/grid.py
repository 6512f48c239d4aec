"""The 2x2 grid of a job's images, as PNG bytes (composed where the images are)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image


def compose_grid_png(images_png: Sequence[bytes]) -> bytes:
    """The engine's grid layout (two columns: four images give the 2x2 grid) of PNG images."""
    from dreamloom.engine.grid import make_grid

    images = [Image.open(io.BytesIO(data)) for data in images_png]
    buffer = io.BytesIO()
    make_grid(images).save(buffer, format="PNG")
    return buffer.getvalue()


def numbered_pngs(images_png: Sequence[bytes], grid_png: bytes | None) -> list[tuple[int, bytes]]:
    """A job's outputs by image index: 0 the grid (when there is one), 1... the singles."""
    return ([(0, grid_png)] if grid_png is not None else []) + list(enumerate(images_png, 1))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (nothing is decoded)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size
