"""Pixel sizes for an aspect ratio at a model's native resolution.

Midjourney's ``--ar`` changes width and height "but not the max file size": the pixel budget
stays that of the square image. Models also need each side to be a multiple of their latent
grid, so the exact ratio is usually out of reach and the nearest one is chosen.
"""

from __future__ import annotations

import functools
import math


# Every submission asks, with a handful of distinct arguments in practice.
@functools.lru_cache(maxsize=1024)
def aspect_size(aspect: tuple[int, int], native: int, multiple: int = 64) -> tuple[int, int]:
    """Width and height for ``aspect`` with an area close to ``native * native``.

    Both are multiples of ``multiple`` (at least ``multiple``). The size chosen minimises the
    aspect error plus half the area error, both measured as log ratios; ties go to the size
    closer in area, then the smaller one.
    """
    ratio_w, ratio_h = aspect
    if ratio_w <= 0 or ratio_h <= 0 or native <= 0 or multiple <= 0:
        raise ValueError("aspect, native and multiple must be positive")
    if ratio_w < ratio_h:  # portrait is landscape turned round: 2:3 is 3:2 with sides swapped
        height, width = aspect_size((ratio_h, ratio_w), native, multiple)
        return width, height
    target_area = float(native) * native
    target_ratio = ratio_w / ratio_h

    # For every side length near the ideal one, the two multiples nearest the ratio on the
    # other side; stepping along both sides keeps the set complete for extreme ratios.
    candidates: set[tuple[int, int]] = set()
    ideal_width = math.sqrt(target_area * target_ratio)
    for k in _steps(ideal_width / target_ratio, multiple):
        other = k * target_ratio
        candidates.update((max(1, n) * multiple, k * multiple) for n in _around(other))
    for k in _steps(ideal_width, multiple):
        other = k / target_ratio
        candidates.update((k * multiple, max(1, n) * multiple) for n in _around(other))

    def ratio_error(size: tuple[int, int]) -> float:
        return abs(math.log(size[0] / size[1] / target_ratio))

    def area_error(size: tuple[int, int]) -> float:
        return abs(math.log(size[0] * size[1] / target_area))

    # Shape first: a few percent more or fewer pixels is invisible, a squashed ratio is not.
    # Rounded so that mirror-image errors (+x % area and -x % area) tie exactly.
    return min(
        candidates,
        key=lambda s: (round(ratio_error(s) + area_error(s) / 2, 12), round(area_error(s), 12), s),
    )


def _steps(ideal: float, multiple: int) -> range:
    """Side lengths (in units of ``multiple``) from 2/3 to 3/2 of an ideal side length."""
    low = max(1, math.floor(ideal / 1.5 / multiple))
    return range(low, max(low, math.ceil(ideal * 1.5 / multiple)) + 1)


def _around(value: float) -> tuple[int, int]:
    return math.floor(value), math.ceil(value)
