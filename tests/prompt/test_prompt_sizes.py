"""``aspect_size``: pixel sizes at the model's native area."""

from __future__ import annotations

import math

import pytest

from dreamloom.prompt import aspect_size

RATIOS = [(a, b) for a in range(1, 15) for b in range(1, 15) if math.gcd(a, b) == 1]
COMMON = [(1, 1), (16, 9), (3, 2), (4, 3), (5, 4), (7, 4), (2, 1), (21, 9), (4, 5), (9, 16)]


def ratio_error(size: tuple[int, int], aspect: tuple[int, int]) -> float:
    return abs(math.log(size[0] / size[1] / (aspect[0] / aspect[1])))


def nearest_rounding(aspect: tuple[int, int], native: int, m: int) -> tuple[int, int]:
    width = native * math.sqrt(aspect[0] / aspect[1])
    height = native * math.sqrt(aspect[1] / aspect[0])
    return max(m, round(width / m) * m), max(m, round(height / m) * m)


@pytest.mark.parametrize("native", [512, 768, 1024])
def test_square_is_native(native: int) -> None:
    assert aspect_size((1, 1), native) == (native, native)


def test_known_sizes() -> None:
    assert aspect_size((16, 9), 1024) == (1344, 768)
    assert aspect_size((9, 16), 1024) == (768, 1344)
    assert aspect_size((16, 9), 768) == (1024, 576)
    assert aspect_size((3, 2), 768) == (960, 640)
    assert aspect_size((2, 1), 512) == (768, 384)


@pytest.mark.parametrize(
    ("native", "multiple"),
    [(256, 64), (512, 64), (768, 64), (1024, 64), (2048, 64), (512, 8), (1024, 16)],
)
def test_every_ratio_is_well_formed(native: int, multiple: int) -> None:
    for aspect in RATIOS:
        width, height = aspect_size(aspect, native, multiple)
        assert width % multiple == 0 and height % multiple == 0
        assert width >= multiple and height >= multiple
        # Never worse in shape than rounding each side on its own.
        naive = nearest_rounding(aspect, native, multiple)
        assert ratio_error((width, height), aspect) <= ratio_error(naive, aspect) + 1e-9
        # Portrait is landscape turned round.
        assert aspect_size((aspect[1], aspect[0]), native, multiple) == (height, width)
        if native >= 512:
            assert 1 / 1.5 <= width * height / native**2 <= 1.5


@pytest.mark.parametrize("native", [512, 768, 1024])
@pytest.mark.parametrize("aspect", COMMON)
def test_common_ratios_keep_area_and_shape(native: int, aspect: tuple[int, int]) -> None:
    width, height = aspect_size(aspect, native)
    assert 0.8 <= width * height / native**2 <= 1.2
    assert ratio_error((width, height), aspect) <= math.log(1.06)


def test_fine_multiples_are_close_to_exact() -> None:
    width, height = aspect_size((16, 9), 1024, multiple=8)
    assert ratio_error((width, height), (16, 9)) < 0.01
    assert abs(width * height / 1024**2 - 1) < 0.02


def test_tiny_native_sizes_still_give_the_minimum() -> None:
    assert aspect_size((1, 1), 64) == (64, 64)
    width, height = aspect_size((14, 1), 64)
    assert height == 64 and width % 64 == 0


@pytest.mark.parametrize(
    ("aspect", "native", "multiple"),
    [((0, 1), 512, 64), ((1, -1), 512, 64), ((1, 1), 0, 64), ((1, 1), 512, 0)],
)
def test_invalid_arguments(aspect: tuple[int, int], native: int, multiple: int) -> None:
    with pytest.raises(ValueError):
        aspect_size(aspect, native, multiple)
