"""Permutation prompts: ``a {happy, sad} penguin`` is two jobs.

Groups multiply in reading order (the first group varies slowest), groups nest, and a backslash
makes ``{ } , \\`` literal. The whole text is parsed into a tree first so that the number of jobs
is known, and refused, before anything is expanded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import product
from typing import Final, TypeAlias

from .errors import PromptError

MAX_NESTING: Final = 8
_SPECIAL: Final = frozenset("{},\\")
_SPECIAL_CHARS: Final = re.compile(r"[{}\\]")
# What ``escape`` prefixes with a backslash: a brace, or a backslash before a special character.
_ESCAPED: Final = re.compile(r"[{}]|\\(?=[{},\\])")


@dataclass(frozen=True)
class Group:
    options: tuple[Seq, ...]


Seq: TypeAlias = tuple["str | Group", ...]


def parse(text: str) -> Seq:
    if not _SPECIAL_CHARS.search(text):
        return (text,) if text else ()  # most prompts: nothing to walk through
    seq, end = _sequence(text, 0, 0, in_group=False)
    assert end == len(text)
    return seq


def count(seq: Seq) -> int:
    return math.prod(_count_group(item) for item in seq if isinstance(item, Group))


def expand(seq: Seq) -> list[str]:
    pieces = [[item] if isinstance(item, str) else _expand_group(item) for item in seq]
    return ["".join(choice) for choice in product(*pieces)]


def escape(text: str) -> str:
    """The inverse of parsing for text without groups: ``expand(parse(escape(t))) == [t]``.

    Minimal on purpose: a backslash is only doubled where it would otherwise escape the next
    character, so that "C:\\dir" stays readable and never grows.
    """
    return _ESCAPED.sub(r"\\\g<0>", text)


def _count_group(group: Group) -> int:
    return sum(count(option) for option in group.options)


def _expand_group(group: Group) -> list[str]:
    # Options are trimmed so that "{red, green}" reads as "red" and "green".
    return [text.strip(" ") for option in group.options for text in expand(option)]


def _sequence(text: str, i: int, depth: int, *, in_group: bool) -> tuple[Seq, int]:
    items: list[str | Group] = []
    buf: list[str] = []
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _SPECIAL:
            buf.append(text[i + 1])
            i += 2
        elif char == "{":
            if depth >= MAX_NESTING:
                raise PromptError(f"Permutations can be nested at most {MAX_NESTING} deep")
            if buf:
                items.append("".join(buf))
                buf = []
            group, i = _group(text, i + 1, depth + 1)
            items.append(group)
        elif in_group and char in ",}":
            break
        elif char == "}":
            raise PromptError('There is a "}" without a matching "{" (write \\} for a brace)')
        else:
            buf.append(char)
            i += 1
    if buf:
        items.append("".join(buf))
    return tuple(items), i


def _group(text: str, i: int, depth: int) -> tuple[Group, int]:
    options: list[Seq] = []
    while True:
        option, i = _sequence(text, i, depth, in_group=True)
        options.append(option)
        if i >= len(text):
            raise PromptError('There is a "{" without a matching "}" (write \\{ for a brace)')
        if text[i] == "}":
            return Group(tuple(options)), i + 1
        i += 1  # the comma
