"""Uploads: sniffing, size and pixel limits, normalisation (no network involved)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from safety_helpers import encoded, png_bytes

from dreamloom.safety import FetchError, FetchPolicy, load_upload, sniff_format
from dreamloom.safety.policy import NOT_AN_IMAGE, UNDECODABLE


def refused(data: bytes, policy: FetchPolicy | None = None) -> str:
    with pytest.raises(FetchError) as info:
        load_upload(data, policy)
    return str(info.value)


def photo(mode: str = "RGB", size: tuple[int, int] = (20, 10)) -> Image.Image:
    rng = np.random.default_rng(1)
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(), mode=mode)


@pytest.mark.parametrize(
    ("image_format", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_each_accepted_format_decodes_to_rgb(image_format: str, mime: str) -> None:
    data = encoded(photo(), image_format)
    assert sniff_format(data[:12]) == image_format
    loaded = load_upload(data)
    assert loaded.format == image_format
    assert loaded.mime_type == mime
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == (20, 10)
    assert loaded.data == data
    assert loaded.source_url is None


def test_transparency_is_kept_as_rgba() -> None:
    assert load_upload(encoded(photo("RGBA"), "PNG")).image.mode == "RGBA"
    assert load_upload(encoded(photo("LA"), "PNG")).image.mode == "RGBA"
    half_transparent = np.zeros((10, 20, 4), dtype=np.uint8)
    half_transparent[:5, :, 3] = 255
    gif = encoded(Image.fromarray(half_transparent, mode="RGBA"), "GIF")
    loaded = load_upload(gif).image
    assert loaded.mode == "RGBA"
    assert np.asarray(loaded)[..., 3].min() == 0
    assert load_upload(encoded(photo("L"), "PNG")).image.mode == "RGB"


def test_sixteen_bit_greyscale_keeps_its_tones() -> None:
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    data = encoded(Image.fromarray(ramp), "PNG")
    pixels = np.asarray(load_upload(data).image)
    # Clipping would make nearly everything white; scaling keeps the ramp.
    assert pixels[0, 0, 0] == 0
    assert pixels[-1, -1, 0] == 255
    assert 100 < pixels[4, 0, 0] < 160


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encoded(photo(size=(20, 10)), "JPEG", exif=exif)
    assert load_upload(data).image.size == (10, 20)


def test_uploads_over_ten_megabytes_are_refused() -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024)
    assert refused(data) == "Image is larger than 10 MB"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html><body>hello</body></html>",
        b'<svg xmlns="http://www.w3.org/2000/svg"></svg>',
        b"%PDF-1.7\n",
        b"RIFF\0\0\0\0WAVEfmt ",
        encoded(photo(), "BMP"),
        encoded(photo(), "TIFF"),
    ],
    ids=["empty", "html", "svg", "pdf", "wav", "bmp", "tiff"],
)
def test_other_content_is_not_an_image(data: bytes) -> None:
    assert refused(data) == NOT_AN_IMAGE


def test_damaged_files_are_refused() -> None:
    full = png_bytes((64, 64))
    assert refused(full[: len(full) // 2]) == UNDECODABLE
    assert refused(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20) == UNDECODABLE
    assert refused(b"\xff\xd8\xff" + b"\0" * 100) == UNDECODABLE


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _gif_declaring(width: int, height: int) -> bytes:
    # Header, a logical screen and one image descriptor of that size, then nothing.
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + descriptor + b"\x08\x02\x4c\x01\x00;"


@pytest.mark.parametrize(
    "data",
    [_png_declaring(100_000, 100_000), _gif_declaring(65_535, 65_535)],
    ids=["png-10-gigapixels", "gif-4-gigapixels"],
)
def test_decompression_bombs_are_refused_from_their_header(data: bytes) -> None:
    before = Image.MAX_IMAGE_PIXELS
    assert len(data) < 100
    message = refused(data)
    assert message.startswith("Image ")
    assert "at most 25,000,000 pixels in total" in message
    assert before == Image.MAX_IMAGE_PIXELS


def test_pixel_limit_below_pillows_is_the_policy_s() -> None:
    assert refused(_png_declaring(8000, 6000)) == (
        "Image is too large: 8000×6000 pixels (at most 25,000,000 pixels in total)"
    )
    assert refused(png_bytes((16, 16)), FetchPolicy(max_pixels=255)).startswith(
        "Image is too large: 16×16"
    )


def test_policy_normalises_hosts_and_refuses_nonsense() -> None:
    policy = FetchPolicy(allowed_hosts=frozenset({"Images.Example.", "[::1]"}))
    assert policy.host_is_allowed("images.example")
    assert policy.host_is_allowed("IMAGES.EXAMPLE.")
    assert policy.host_is_allowed("::1")
    assert not policy.host_is_allowed("example")
    for bad in ({"max_bytes": 0}, {"max_pixels": -1}, {"timeout_s": 0}, {"max_redirects": -1}):
        with pytest.raises(ValueError):
            FetchPolicy(**bad)  # type: ignore[arg-type]
