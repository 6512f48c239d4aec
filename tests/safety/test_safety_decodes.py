"""Upload memory: the pixel limit is checked from the header before decoding, and only so
many pictures are decoded at once however many requests arrive together."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections.abc import Callable

import pytest
from PIL import ImageFile
from safety_helpers import png_bytes

from dreamloom.safety import FetchError, FetchPolicy, load_upload
from dreamloom.safety.decodes import DecodeSlots
from dreamloom.safety.policy import DEFAULT_MAX_PIXELS


def flat_png(width: int, height: int, rgb: tuple[int, int, int] = (220, 30, 30)) -> bytes:
    """A flat-colour PNG built row by row (a 36 Mpx one is ~100 KB, and never in memory as
    pixels here either)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    packer = zlib.compressobj(9)
    compressed = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", compressed)
        + chunk(b"IEND", b"")
    )


def test_a_36_megapixel_png_is_refused_from_its_header_naming_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = flat_png(6000, 6000)
    assert len(data) < 1_500_000  # what a user uploads: small
    decoded: list[object] = []
    real_load = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> object:
        decoded.append(self)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    with pytest.raises(FetchError) as info:
        load_upload(data)
    assert str(info.value) == (
        f"Image is too large: 6000×6000 pixels (at most {DEFAULT_MAX_PIXELS:,} pixels in total)"
    )
    assert decoded == []  # not one pixel decoded
    with pytest.raises(FetchError, match="at most 1,000 pixels"):
        load_upload(flat_png(40, 40), FetchPolicy(max_pixels=1_000))


def _slow_loads(monkeypatch: pytest.MonkeyPatch, seconds: float) -> Callable[[], int]:
    """Make every decode take ``seconds``; returns how many were running at the busiest."""
    lock = threading.Lock()
    running = peak = 0
    real_load = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> object:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(seconds)
            return real_load(self)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return lambda: peak


def test_concurrent_uploads_decode_at_most_the_bound_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    peak = _slow_loads(monkeypatch, 0.05)
    slots = DecodeSlots(2)
    policy = FetchPolicy(decodes=slots)
    data = png_bytes((32, 32))
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            assert load_upload(data, policy).image.size == (32, 32)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert peak() == 2 and slots.peak == 2 and slots.active == 0


def test_decode_slots_are_released_when_a_decode_fails() -> None:
    slots = DecodeSlots(1)
    policy = FetchPolicy(decodes=slots)
    truncated = png_bytes((32, 32))[:60]
    for _ in range(3):
        with pytest.raises(FetchError):
            load_upload(truncated, policy)
    assert slots.active == 0
    assert load_upload(png_bytes((8, 8)), policy).image.size == (8, 8)
    with pytest.raises(ValueError):
        DecodeSlots(0)
