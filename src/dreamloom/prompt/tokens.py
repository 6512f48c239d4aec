"""Splitting one prompt into its three regions: ``[image links] text --param value ...``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import PromptError
from .text import normalize_spaces
from .values import image_url

# "--" starts a parameter only at the start of a word, and only before a letter, so that "a--b"
# or "-- " stay text. Midjourney also takes an em dash (phones and word processors turn "--"
# into one); the en dash is the same autocorrection on other keyboards.
_PARAM: Final = re.compile(r"(?:--|—|–)([A-Za-z]\S*)")
_TOKEN: Final = re.compile(r"\S+")
# What a browser pastes when an image was attached but never sent (support FAQ).
_BLOB: Final = re.compile(r"<?blob:https?://", re.IGNORECASE)


@dataclass(frozen=True)
class RawParam:
    name: str  # as typed, without the dashes
    values: tuple[str, ...]


@dataclass(frozen=True)
class Regions:
    images: tuple[str, ...]
    text: str  # whitespace normalised
    params: tuple[RawParam, ...]


def split_regions(prompt: str) -> Regions:
    tokens = list(_TOKEN.finditer(prompt))
    i = 0
    images: list[str] = []
    while i < len(tokens):
        token = tokens[i].group()
        if _BLOB.match(token):
            raise PromptError(
                "The image link starts with blob:, which means the image was never uploaded: "
                "send the image first, then copy its link"
            )
        url = image_url(token)
        if url is None:
            break
        images.append(url)
        i += 1

    first_text = i
    while i < len(tokens) and not _PARAM.fullmatch(tokens[i].group()):
        i += 1
    text = ""
    if i > first_text:
        text = normalize_spaces(prompt[tokens[first_text].start() : tokens[i - 1].end()])

    params: list[RawParam] = []
    while i < len(tokens):
        match = _PARAM.fullmatch(tokens[i].group())
        assert match is not None
        i += 1
        values: list[str] = []
        while i < len(tokens) and not _PARAM.fullmatch(tokens[i].group()):
            values.append(tokens[i].group())
            i += 1
        params.append(RawParam(match.group(1), tuple(values)))
    return Regions(tuple(images), text, tuple(params))
