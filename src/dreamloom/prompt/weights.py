"""Multi-prompts: ``space:: ship::2`` is "space" at weight 1 and "ship" at weight 2.

A weight belongs to all the text since the previous ``::``, so ``hot dog animal::-1`` is one
part, "hot dog animal", at weight -1 (early FAQ). The weight must follow the colons with no
space; digits that run into more text ("a::2b") are not a weight.
"""

from __future__ import annotations

import re
from typing import Final

from .model import WeightedText

_SEPARATOR: Final = re.compile(r"::(-?(?:\d{1,6}(?:\.\d{0,9})?|\.\d{1,9}))?(?=\s|$)|::")


def split_weights(text: str) -> tuple[tuple[WeightedText, ...], bool]:
    """The parts of ``text`` and whether it used ``::`` at all. Empty parts are dropped."""
    parts: list[WeightedText] = []
    start = 0
    separated = False
    for match in _SEPARATOR.finditer(text):
        separated = True
        weight = float(match.group(1)) if match.group(1) else 1.0
        part = text[start : match.start()].strip(" ")
        if part:
            parts.append(WeightedText(part, weight))
        start = match.end()
    tail = text[start:].strip(" ")
    if tail:
        parts.append(WeightedText(tail, 1.0))
    return tuple(parts), separated
