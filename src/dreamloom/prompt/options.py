"""Option sets (``/prefer option set``): ``--name`` stands for a stored piece of prompt text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .errors import PromptError
from .names import BUILTIN
from .text import check_length, clean

# Option sets may refer to other option sets; a chain deeper than this is taken to be a loop.
MAX_DEPTH: Final = 8

_NAME: Final = re.compile(r"[^\s{},\\]+")


def expand_option_sets(text: str, option_sets: Mapping[str, str], label: str) -> str:
    """Replace every ``--name`` of an option set by its value, recursively.

    Built-in parameter names are never replaced: an option set called "ar" must not change what
    ``--ar`` means in every other prompt.
    """
    values: dict[str, str] = {}
    for key, value in option_sets.items():
        name = key.lstrip("-—–")
        if _NAME.fullmatch(name) and name not in BUILTIN:
            values[name] = clean(value)
    if not values:
        return text
    names = "|".join(re.escape(name) for name in sorted(values, key=len, reverse=True))
    # A name is a whole token; "{" and "," also end a token so that an option set can be one
    # choice of a permutation: "{--warm, --cold}".
    pattern = re.compile(rf"(?<![^\s{{,])(?:--|—|–)({names})(?=[\s,{{}}]|$)")
    for depth in range(MAX_DEPTH + 1):
        match = pattern.search(text)
        if match is None:
            break
        if depth == MAX_DEPTH:
            raise PromptError(
                f"Option set --{match.group(1)} refers to itself (option sets can be nested at "
                f"most {MAX_DEPTH} deep)"
            )
        text = pattern.sub(lambda m: values[m.group(1)], text)
        check_length(text, label, " after expanding option sets")
    return text
