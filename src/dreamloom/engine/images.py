"""PNG bytes in and out: recipes carry images as bytes (they must pickle and go into JSON)."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

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


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
