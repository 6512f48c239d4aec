"""Turning untrusted bytes into a picture: sniff the format, bound the size, then decode.

The order matters. Bytes are counted before anything is parsed, the format is decided by the
file's first bytes (a name or a Content-Type header is whatever the sender claims), and the
dimensions in the header are checked before a single pixel is decoded, so that a few kilobytes
that declare a 100,000×100,000 canvas never reach the decoder.
"""

from __future__ import annotations

import struct
from contextlib import nullcontext
from dataclasses import dataclass
from io import BytesIO
from typing import Final

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dreamloom.safety.policy import (
    NOT_AN_IMAGE,
    UNDECODABLE,
    FetchError,
    FetchPolicy,
    too_large,
    too_many_pixels,
)

# The formats accepted (Pillow's names) and their MIME types.
MIME_TYPES: Final = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}

# Enough bytes to tell the four formats apart (WebP needs 12: "RIFF", a size, "WEBP").
SNIFF_BYTES: Final = 12


# What Pillow's decoders raise on damaged or truncated data (SyntaxError and struct.error
# come from some plugins' header parsing).
_DECODE_ERRORS: Final = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
)


def sniff_format(head: bytes) -> str | None:
    """The Pillow format name that ``head`` (a file's first bytes) starts, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if len(head) >= SNIFF_BYTES and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


@dataclass(frozen=True, eq=False)
class FetchedImage:
    """A decoded user image: pixels ready for the engine plus the exact bytes received.

    ``image`` is RGB, or RGBA when the file had transparency, upright per its EXIF orientation;
    ``data`` is kept so the original can be stored or hashed without re-encoding.
    """

    image: Image.Image
    data: bytes
    format: str
    source_url: str | None = None

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]


# The EXIF tag that says how a photo is turned (1: upright).
_ORIENTATION: Final = 0x0112


def _normalize(image: Image.Image) -> Image.Image:
    # Phones store photos sideways with an EXIF hint; the engine must see what the user sees.
    # Each step copies the picture only when it changes it: a decoded upload is the largest
    # allocation of a request, and two spare copies of it tripled a burst's memory.
    upright = image
    if image.getexif().get(_ORIENTATION, 1) != 1:
        upright = ImageOps.exif_transpose(image)
    if upright.mode.startswith("I"):
        # 16-bit greyscale: Pillow's convert() clips to 255, which would blow out the picture.
        scaled = (np.asarray(upright, dtype=np.uint32) >> 8).astype(np.uint8)
        upright = Image.fromarray(scaled, mode="L")
    has_alpha = upright.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        "transparency" in upright.info
    )
    mode = "RGBA" if has_alpha else "RGB"
    if upright.mode == mode and "transparency" not in upright.info:
        return upright
    return upright.convert(mode)


def decode_image(
    data: bytes, policy: FetchPolicy, *, source_url: str | None = None
) -> FetchedImage:
    """Check and decode complete image bytes under ``policy``; raises FetchError."""
    if len(data) > policy.max_bytes:
        raise FetchError(too_large(policy))
    image_format = sniff_format(data[:SNIFF_BYTES])
    if image_format is None:
        raise FetchError(NOT_AN_IMAGE)
    try:
        # ``formats`` pins the decoder to the sniffed one: bytes that start like a PNG are
        # never handed to another plugin that might accept them.
        with Image.open(BytesIO(data), formats=[image_format]) as opened:
            # Image.open reads only the header, so the size is known before any decoding.
            # The limit is checked here, per policy, rather than by changing Pillow's global
            # MAX_IMAGE_PIXELS, which every other image in the process shares.
            width, height = opened.size
            if width * height > policy.max_pixels:
                raise FetchError(too_many_pixels(policy, (width, height)))
            # Only so many pictures are decoded at once per process: memory stays flat
            # under a burst of uploads (see ``DecodeSlots``).
            with policy.decodes.held() if policy.decodes is not None else nullcontext():
                opened.load()
                image = _normalize(opened)
    except FetchError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own global guard fired first (far above our limit, or warnings as errors).
        raise FetchError(too_many_pixels(policy)) from exc
    except _DECODE_ERRORS as exc:
        raise FetchError(UNDECODABLE) from exc
    return FetchedImage(image=image, data=data, format=image_format, source_url=source_url)


def load_upload(data: bytes, policy: FetchPolicy | None = None) -> FetchedImage:
    """An uploaded file (multipart ``imageBlob``): the same checks as a fetched URL."""
    return decode_image(data, policy or FetchPolicy())


def decode_checked(data: bytes) -> Image.Image:
    """Bytes that ``decode_image`` accepted before (a describe job's stored input), decoded to
    the same picture it gave then."""
    image_format = sniff_format(data[:SNIFF_BYTES])
    if image_format is None:
        raise ValueError(NOT_AN_IMAGE)
    with Image.open(BytesIO(data), formats=[image_format]) as opened:
        opened.load()
        return _normalize(opened)
