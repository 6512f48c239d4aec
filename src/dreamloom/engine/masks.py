"""Masks for Vary (Region) and outpainting: decoding the user's mask, and keeping the pixels it
does not select.

Convention throughout: a mask is a mode "L" image of the picture's size whose pixels are 0 or
255, and white (255) marks the area to change. useapi sends "a base64-encoded black and white
mask image"; the seed does not say which colour is which, so the convention of diffusers and of
every inpainting UI (white = repaint) is taken.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError

from dreamloom.engine.images import MAX_PIXELS, png_bytes

MAX_MASK_BYTES = 10 * 1024 * 1024
# A mask drawn over a scaled-down view of the picture is resized to the picture's size; one of
# another shape was drawn for some other picture and is refused.
ASPECT_TOLERANCE = 0.02
_DATA_URL = re.compile(r"^data:[\w.+/-]*(?:;[\w=.+-]+)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


class MaskError(ValueError):
    """The mask cannot be used; `message` is the user-facing text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_mask(data: str | bytes, size: tuple[int, int] | None = None) -> Image.Image:
    """The user's mask as a binary "L" image, resized to `size` (the picture's) when given.

    `data` is base64 text, with or without a `data:image/...;base64,` prefix, or the image
    file's own bytes. Transparent pixels count as black (not selected), so a brush layer
    exported with alpha works as well as an opaque black-and-white picture.
    """
    raw = _image_bytes(data)
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise MaskError("the mask image is too large")
            opened.load()
            mask = binarize(opened)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise MaskError("the mask must be a base64-encoded PNG or JPEG image") from None
    if size is not None:
        mask = fit_mask(mask, size)
    if mask.getbbox() is None:
        raise MaskError("the mask selects nothing: paint the area to change in white")
    return mask


def check_mask_pixels(data: str | bytes, max_pixels: int) -> None:
    """Refuse a mask whose header declares more than ``max_pixels`` (before any decoding:
    the operator's limit for user pictures, lower than the engine's own ``MAX_PIXELS``)."""
    try:
        with Image.open(io.BytesIO(_image_bytes(data))) as opened:
            width, height = opened.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise MaskError("the mask must be a base64-encoded PNG or JPEG image") from None
    if width * height > max_pixels:
        raise MaskError(
            f"the mask image is too large: {width}×{height} pixels "
            f"(at most {max_pixels:,} pixels in total)"
        )


def decode_mask_png(data: str | bytes, size: tuple[int, int] | None = None) -> bytes:
    """`decode_mask` as PNG bytes, the form a recipe carries."""
    return png_bytes(decode_mask(data, size))


def _image_bytes(data: str | bytes) -> bytes:
    if isinstance(data, bytes):
        raw = data
    else:
        text = _WHITESPACE.sub("", data)
        match = _DATA_URL.match(text)
        if match is not None:
            text = text[match.end() :]
        elif text.startswith("data:"):
            raise MaskError("the mask data URL must be base64-encoded")
        if not text:
            raise MaskError("the mask is empty")
        if len(text) > MAX_MASK_BYTES * 4 // 3 + 4:
            raise MaskError("the mask must be at most 10 MB")
        raw = _b64decode(text)
    if not raw:
        raise MaskError("the mask is empty")
    if len(raw) > MAX_MASK_BYTES:
        raise MaskError("the mask must be at most 10 MB")
    return raw


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    # Browsers' canvas.toDataURL gives the standard alphabet; some clients send URL-safe.
    alphabet = b"-_" if ("-" in text or "_" in text) else None
    try:
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise MaskError("the mask is not valid base64") from None


def binarize(image: Image.Image) -> Image.Image:
    """0/255 "L": a pixel is selected when its brightness is at least half (alpha: opaque)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba)
    return image.convert("L").point(lambda v: 255 if v >= 128 else 0)


def fit_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`mask` at `size`: the same shape may be resized (by majority over each output pixel's
    area, so a stroke keeps its width in proportion); another shape is an error."""
    if mask.size == size:
        return mask
    (mw, mh), (w, h) = mask.size, size
    if abs(math.log((mw / mh) / (w / h))) > ASPECT_TOLERANCE:
        raise MaskError(f"the mask is {mw}x{mh} pixels but the image is {w}x{h}")
    return resize_mask(mask, size)


def resize_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A binary mask at another size, by majority over each output pixel's area."""
    if mask.size == size:
        return mask
    return binarize(mask.resize(size, Image.Resampling.BOX))


def grow(mask: Image.Image, pixels: int) -> Image.Image:
    """Dilate by `pixels` in every direction (a square neighbourhood)."""
    if pixels <= 0:
        return mask
    return mask.filter(ImageFilter.MaxFilter(2 * pixels + 1))


def feather_radius(size: tuple[int, int]) -> int:
    """The width of the blend band at a mask's border: 8 px on a 1024 px picture."""
    return max(1, round(min(size) / 128))


def feathered(mask: Image.Image, radius: int) -> Image.Image:
    """An alpha that is 0 wherever `mask` is, 255 from `radius` pixels inside its border on,
    and ramps linearly in between (by the distance to the nearest unselected pixel).

    The ramp lies inside the mask so that pixels the user did not select stay exactly as they
    were. A selection thinner than two ramps gets a narrower one: a thin stroke is repainted
    in full rather than faded into its surroundings.
    """
    layers = [np.asarray(mask) > 0]
    while len(layers) < 2 * radius:
        inner = np.asarray(Image.fromarray(layers[-1]).filter(ImageFilter.MinFilter(3)))
        if not inner.any():
            break
        layers.append(inner)
    width = max(1, min(radius, len(layers) // 2))
    depth = np.sum(layers[:width], axis=0)  # 1 at the border, `width` from `width` px in
    return Image.fromarray((depth * 255 // width).astype(np.uint8), "L")


def keep_unselected(
    original: Image.Image, generated: Image.Image, mask: Image.Image, radius: int
) -> Image.Image:
    """`generated` inside the mask, `original` outside it, blended in a band inside the border.

    The VAE round trip alters every pixel a little (and a latent mask is 8 px coarse), so the
    model's output is only trusted where the user asked for change.
    """
    if original.size != generated.size or mask.size != generated.size:
        raise ValueError("original, generated and mask must have the same size")
    return Image.composite(generated, original.convert(generated.mode), feathered(mask, radius))
