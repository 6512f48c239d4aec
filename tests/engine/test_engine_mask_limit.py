"""A region mask over the operator's pixel limit is refused from its header, before decoding."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from dreamloom.engine.masks import MaskError, check_mask_pixels


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_a_mask_over_the_limit_is_refused_naming_it() -> None:
    mask = base64.b64encode(_png_declaring(6000, 6000)).decode()
    with pytest.raises(MaskError) as info:
        check_mask_pixels(f"data:image/png;base64,{mask}", 25_000_000)
    assert info.value.message == (
        "the mask image is too large: 6000×6000 pixels (at most 25,000,000 pixels in total)"
    )
    check_mask_pixels(mask, 36_000_000)  # at the limit: accepted
    with pytest.raises(MaskError, match="base64-encoded PNG or JPEG"):
        check_mask_pixels(base64.b64encode(b"not a picture").decode(), 25_000_000)
