"""Reading and writing the small values parameters take: numbers and links."""

from __future__ import annotations

import re
from typing import Final

# Digit counts are bounded so that a pasted wall of digits is a clear error instead of a huge
# integer, and so that every accepted decimal survives a float round trip (6 + 9 digits fit in
# the 15 significant digits a double always preserves).
_INT: Final = re.compile(r"[+-]?\d{1,15}")
_FLOAT: Final = re.compile(r"[+-]?(?:\d{1,6}(?:\.\d{0,9})?|\.\d{1,9})")

# An image prompt is recognised by its file type, as Midjourney does ("a URL ending in .jpg, .png
# or .webp"); Discord's CDN links carry a query string after the extension. Angle brackets are
# how Discord users stop a link from being embedded.
_IMAGE_URL: Final = re.compile(
    r"<?(https?://[^\s<>]+?\.(?:png|jpe?g|webp)(?:[?#][^\s<>]*)?)>?", re.IGNORECASE
)
_LINK: Final = re.compile(r"<?(https?://[^\s<>]+)>?", re.IGNORECASE)


def parse_int(text: str) -> int | None:
    return int(text) if _INT.fullmatch(text) else None


def parse_float(text: str) -> float | None:
    return float(text) if _FLOAT.fullmatch(text) else None


def format_number(value: float) -> str:
    """Shortest plain decimal (never an exponent), so that it parses back to the same value."""
    if value == int(value):
        return str(int(value))
    return f"{value:.9f}".rstrip("0").rstrip(".")


def image_url(token: str) -> str | None:
    match = _IMAGE_URL.fullmatch(token)
    return match.group(1) if match else None


def link(token: str) -> str | None:
    match = _LINK.fullmatch(token)
    return match.group(1) if match else None
