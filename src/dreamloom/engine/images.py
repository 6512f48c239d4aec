"""PNG bytes in and out: recipes carry images as bytes (they must pickle and go into JSON)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping

import fpng
import numpy as np
from PIL import Image, ImageOps

_FPNG_MODES = frozenset({"RGB", "RGBA"})

# Decoding a user's upload must not allocate an arbitrary amount of memory: 40 megapixels is
# well above the 2048 px sides of an upscale and below what would exhaust a worker.
MAX_PIXELS = 40_000_000


def open_rgb(data: bytes) -> Image.Image:
    """Decode an image (any format Pillow reads) to RGB, honouring its EXIF orientation.

    Transparent pixels become black, not whatever colour the encoder left behind them."""
    with Image.open(io.BytesIO(data)) as opened:
        if opened.width * opened.height > MAX_PIXELS:
            raise ValueError(f"image of {opened.width}x{opened.height} pixels is too large")
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
            return Image.alpha_composite(black, rgba).convert("RGB")
        return image.convert("RGB")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_END = len(_PNG_SIGNATURE) + 4 + 4 + 13 + 4  # signature, then IHDR's length, type, data, CRC


def _itxt_chunk(keyword: str, text: str) -> bytes:
    """An uncompressed international text chunk (UTF-8: prompts hold any script and emoji)."""
    data = keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8")
    body = b"iTXt" + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bytes(image: Image.Image, text: Mapping[str, str] | None = None) -> bytes:
    """Lossless PNG bytes of ``image``, encoded as cheaply as a standard PNG can be.

    8-bit RGB and RGBA (every picture the models make) go through fpng: on a 1024 px grid of
    photo-like pixels it takes 5 ms where Pillow takes 145 ms at its default level and 109 ms
    at level 1, for a file the size of Pillow's level 1 (about 1.9 MB; level 6 is 10% smaller).
    On a GPU the encoding of a grid would otherwise take longer than computing it. Other
    modes (masks, palettes) are rare and small: Pillow.

    ``text``: keyword -> text chunks (the prompt, the seed, the job id), written right after the
    header as Pillow and other readers expect them; fpng writes none of its own."""
    if image.mode in _FPNG_MODES:
        encoded = bytes(fpng.from_ndarray(np.asarray(image)))
    else:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        encoded = buffer.getvalue()
    if not text:
        return encoded
    chunks = b"".join(_itxt_chunk(key, value) for key, value in text.items())
    return encoded[:_IHDR_END] + chunks + encoded[_IHDR_END:]
