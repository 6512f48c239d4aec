"""Parameter names as typed, and the canonical parameter each one sets.

Names are case-sensitive: Midjourney only accepts lowercase parameters, so ``--AR`` is unknown
rather than an alias of ``--ar``.
"""

from __future__ import annotations

from typing import Final

# Typed name -> canonical key.
CANONICAL: Final[dict[str, str]] = {
    "ar": "aspect",
    "aspect": "aspect",
    "c": "chaos",
    "chaos": "chaos",
    "s": "stylize",
    "stylize": "stylize",
    "q": "quality",
    "quality": "quality",
    "r": "repeat",
    "repeat": "repeat",
    "v": "version",
    "version": "version",
    "niji": "niji",
    "w": "weird",
    "weird": "weird",
    "p": "personalize",
    "personalize": "personalize",
    "profile": "personalize",
    "no": "no",
    "seed": "seed",
    "stop": "stop",
    "tile": "tile",
    "iw": "iw",
    "sref": "sref",
    "sw": "sw",
    "sv": "sv",
    "cref": "cref",
    "cw": "cw",
    "oref": "oref",
    "ow": "ow",
    "raw": "raw",
    "style": "style",
    "draft": "draft",
    "stealth": "stealth",
    "public": "public",
    "fast": "fast",
    "relax": "relax",
    "turbo": "turbo",
}

# The --video family exists in Midjourney but needs a video model this server does not have.
VIDEO: Final[frozenset[str]] = frozenset({"video", "loop", "end", "motion"})

# Parameters that answer the same question share a slot, so that a later source (the prompt)
# replaces an earlier one (/settings) even when it uses the other spelling: --fast beats --relax.
_SLOTS: Final[dict[str, str]] = {
    "niji": "version",
    "stealth": "visibility",
    "public": "visibility",
    "fast": "speed",
    "relax": "speed",
    "turbo": "speed",
}

# Every name an option set must not shadow.
BUILTIN: Final[frozenset[str]] = frozenset(CANONICAL) | VIDEO


def slot_of(key: str) -> str:
    return _SLOTS.get(key, key)
