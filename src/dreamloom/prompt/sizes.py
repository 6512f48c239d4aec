"""Pixel sizes for an aspect ratio at a model's native resolution.

Midjourney's ``--ar`` changes width and height "but not the max file size": the pixel budget
stays that of the square image. Models also need each side to be a multiple of their latent
grid, so the exact ratio is usually out of reach and the nearest one is chosen.
"""

from __future__ import annotations

import math
from typing import Final

# How far the area may stray from native x native in search of a closer aspect ratio. Models
# trained at one area degrade quickly away from it; 10 % is inside what SDXL's own bucket
# table uses (1216x832 is 3.5 % below 1024 x 1024).
AREA_TOLERANCE: Final = 0.10


def aspect_size(aspect: tuple[int, int], native: int, multiple: int = 64) -> tuple[int, int]:
    """Width and height for ``aspect`` with an area close to ``native * native``.

    Both are multiples of ``multiple`` (at least ``multiple``). Among the sizes whose area is
    within AREA_TOLERANCE of the target, the one closest in aspect ratio wins, then the one
    closest in area; if none is (tiny native sizes), the best compromise of both is taken.
    """
    ratio_w, ratio_h = aspect
    if ratio_w <= 0 or ratio_h <= 0 or native <= 0 or multiple <= 0:
        raise ValueError("aspect, native and multiple must be positive")
    target_area = float(native) * native
    target_ratio = ratio_w / ratio_h

    ideal_height = math.sqrt(target_area / target_ratio)
    low = max(1, math.floor(ideal_height * 0.8 / multiple))
    high = max(low, math.ceil(ideal_height * 1.25 / multiple))
    candidates: set[tuple[int, int]] = set()
    for k in range(low, high + 1):
        height = k * multiple
        ideal_width = height * target_ratio / multiple
        for n in (math.floor(ideal_width), math.ceil(ideal_width)):
            candidates.add((max(1, n) * multiple, height))

    def ratio_error(size: tuple[int, int]) -> float:
        return abs(math.log(size[0] / size[1] / target_ratio))

    def area_error(size: tuple[int, int]) -> float:
        return abs(math.log(size[0] * size[1] / target_area))

    within = [size for size in candidates if area_error(size) <= math.log1p(AREA_TOLERANCE)]
    if within:
        return min(within, key=lambda s: (round(ratio_error(s), 12), area_error(s), s))
    return min(candidates, key=lambda s: (ratio_error(s) + area_error(s), s))
