"""Cleaning raw input and normalising the whitespace of the text prompt."""

from __future__ import annotations

import unicodedata
from typing import Final

from .errors import PromptError

MAX_LENGTH: Final = 6000  # the early FAQ: "It must stay under 6000 characters."

_QUOTES: Final = frozenset('"“”')


def check_length(text: str, label: str, detail: str = "") -> None:
    if len(text) > MAX_LENGTH:
        raise PromptError(f"{label} is too long{detail}: the limit is {MAX_LENGTH} characters")


def clean(text: str) -> str:
    """Every whitespace becomes a plain space; other control characters are dropped.

    A prompt is one line of text: tabs and newlines are separators, and control characters (or
    lone surrogates) cannot be typed, carry no meaning for a model and would not survive JSON.
    Format characters (category Cf) stay: emoji sequences are built with zero-width joiners.
    """
    if text.isprintable():  # no whitespace but spaces, no control or format characters
        return text
    out = []
    for char in text:
        if char.isspace():
            out.append(" ")
        elif unicodedata.category(char) not in ("Cc", "Cs"):
            out.append(char)
    return "".join(out)


def normalize_spaces(text: str) -> str:
    """Collapse runs of spaces, except inside quotes.

    Quotation marks ask for the enclosed text to be rendered in the image, so what is between
    them is kept exactly as typed.
    """
    if "  " not in text and _QUOTES.isdisjoint(text):
        return text.strip(" ")
    out: list[str] = []
    quoted = False
    for char in text.strip(" "):
        if char in _QUOTES:
            quoted = not quoted
        elif char == " " and not quoted and out and out[-1] == " ":
            continue
        out.append(char)
    return "".join(out)
