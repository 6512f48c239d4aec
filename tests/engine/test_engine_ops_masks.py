"""Decoding the useapi mask (white = change) and keeping the pixels it does not select."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dreamloom.engine.images import png_bytes
from dreamloom.engine.masks import (
    MaskError,
    decode_mask,
    decode_mask_png,
    feathered,
    keep_unselected,
)


def _mask_picture(
    size: tuple[int, int] = (64, 48), box: tuple[int, ...] = (8, 8, 23, 31)
) -> Image.Image:
    picture = Image.new("RGB", size, "black")
    ImageDraw.Draw(picture).rectangle(box, fill="white")
    return picture


def _b64(image: Image.Image, fmt: str = "PNG") -> str:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _selected(mask: Image.Image) -> np.ndarray:
    return np.asarray(mask) > 0


def test_raw_base64_decodes_to_a_binary_mask_with_white_selected() -> None:
    mask = decode_mask(_b64(_mask_picture()))
    assert mask.mode == "L" and mask.size == (64, 48)
    assert set(np.unique(np.asarray(mask))) == {0, 255}
    selected = _selected(mask)
    assert selected[8:32, 8:24].all()
    assert selected.sum() == 24 * 16


def test_data_url_and_line_breaks_are_accepted() -> None:
    text = _b64(_mask_picture())
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    for data in (f"data:image/png;base64,{text}", f"  data:image/png;base64,{wrapped}\n"):
        assert np.array_equal(np.asarray(decode_mask(data)), np.asarray(decode_mask(text)))


def test_url_safe_and_unpadded_base64_and_raw_bytes_are_accepted() -> None:
    raw = png_bytes(_mask_picture())
    expected = np.asarray(decode_mask(raw))
    url_safe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert np.array_equal(np.asarray(decode_mask(url_safe)), expected)
    assert decode_mask_png(url_safe) == png_bytes(decode_mask(raw))


def test_jpeg_grey_levels_split_at_half_brightness() -> None:
    picture = Image.new("L", (32, 32), 0)
    picture.paste(200, (0, 0, 16, 32))
    picture.paste(100, (16, 0, 32, 32))
    selected = _selected(decode_mask(_b64(picture.convert("RGB"), "JPEG")))
    assert selected[:, :14].all() and not selected[:, 18:].any()


def test_transparent_pixels_count_as_not_selected() -> None:
    brush = Image.new("RGBA", (32, 32), (255, 255, 255, 0))  # white but fully transparent
    ImageDraw.Draw(brush).rectangle((4, 4, 11, 11), fill=(255, 255, 255, 255))
    selected = _selected(decode_mask(_b64(brush)))
    assert selected.sum() == 64 and selected[4:12, 4:12].all()


def test_a_mask_of_the_same_shape_is_resized_to_the_image() -> None:
    small = _mask_picture((32, 24), (4, 4, 11, 15))
    mask = decode_mask(_b64(small), size=(64, 48))
    assert mask.size == (64, 48)
    selected = _selected(mask)
    assert selected[8:32, 8:24].all() and selected.sum() == 24 * 16


def test_a_mask_of_another_shape_is_refused() -> None:
    with pytest.raises(MaskError, match="32x32 pixels but the image is 64x48"):
        decode_mask(_b64(_mask_picture((32, 32), (0, 0, 5, 5))), size=(64, 48))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "empty"),
        ("data:image/png,notbase64", "base64-encoded"),
        ("!!!not base64!!!", "not valid base64"),
        (base64.b64encode(b"hello, not an image").decode(), "PNG or JPEG"),
    ],
)
def test_undecodable_masks_are_refused_with_a_clear_error(data: str, message: str) -> None:
    with pytest.raises(MaskError, match=message) as caught:
        decode_mask(data)
    assert isinstance(caught.value, ValueError) and message in caught.value.message


def test_all_black_and_all_transparent_masks_are_refused() -> None:
    for empty in (Image.new("RGB", (16, 16), "black"), Image.new("RGBA", (16, 16), (0, 0, 0, 0))):
        with pytest.raises(MaskError, match="selects nothing"):
            decode_mask(_b64(empty))
    # A single dot that vanishes when the mask is scaled down to the image is nothing too.
    dot = Image.new("L", (64, 64), 0)
    dot.putpixel((10, 10), 255)
    with pytest.raises(MaskError, match="selects nothing"):
        decode_mask(_b64(dot), size=(16, 16))


def test_feathering_stays_inside_the_mask_and_survives_small_selections() -> None:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    alpha = np.asarray(feathered(mask, 4))
    outside = np.asarray(mask) == 0
    assert (alpha[outside] == 0).all()
    assert alpha[24:40, 24:40].min() == 255  # well inside: all generated
    assert 0 < alpha[16, 32] < 255  # the band at the border blends
    # A selection thinner than two ramps is repainted in full, not faded out.
    tiny = Image.new("L", (64, 64), 0)
    tiny.paste(255, (30, 30, 33, 33))
    alpha = np.asarray(feathered(tiny, 8))
    assert (alpha[30:33, 30:33] == 255).all() and alpha.sum() == 9 * 255


def test_keep_unselected_restores_every_unselected_pixel_exactly() -> None:
    rng = np.random.default_rng(0)
    original = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    generated = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    mask = Image.new("L", (40, 40), 0)
    mask.paste(255, (10, 5, 30, 25))
    out = np.asarray(keep_unselected(original, generated, mask, 2)).astype(int)
    outside = np.asarray(mask) == 0
    assert np.array_equal(out[outside], np.asarray(original).astype(int)[outside])
    assert np.array_equal(out[10:20, 15:25], np.asarray(generated).astype(int)[10:20, 15:25])
