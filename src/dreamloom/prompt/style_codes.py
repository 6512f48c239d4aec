"""Style Tuner codes (`--style CODE`, V5.2) and Niji's named styles (`--style cute`).

A Style Tuner shows a prompt drawn in two looks, A and B, for each of its directions (16, 32,
64 or 128); the user picks A, B or neither per direction and gets a code. The code *is* the
choice: the tuner's seed, its number of directions and the pick of each direction, packed into
one base-36 number with a check byte. So a code needs no database to act, works in any prompt
and for anyone ("You can also share or use style codes created by friends"), and a mistyped
code is refused instead of drawing some other style. `--style code1-code2` combines codes;
`--style random` picks a code (from the job's seed, so a seeded job stays reproducible).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

DIRECTIONS: Final = (16, 32, 64, 128)
RANDOM_DIRECTIONS: Final = 32
# Niji 5's named styles (Niji 6 keeps raw only): each a fixed look of its own.
NIJI_STYLES: Final = ("cute", "expressive", "original", "scenic")
_ALPHABET: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_SEED_BITS: Final = 32


class Side(IntEnum):
    A = 1
    B = 2


@dataclass(frozen=True)
class StyleCode:
    tuner_seed: int  # 0 .. 2**32 - 1: the tuner's looks are drawn from it
    directions: int  # one of DIRECTIONS
    choices: tuple[tuple[int, Side], ...]  # (direction, side), ascending, at least one

    def __post_init__(self) -> None:
        if self.directions not in DIRECTIONS:
            raise ValueError(f"a tuner has {', '.join(map(str, DIRECTIONS))} directions")
        if not 0 <= self.tuner_seed < 2**_SEED_BITS:
            raise ValueError("a tuner seed has 32 bits")
        rows = [row for row, _ in self.choices]
        if not rows or rows != sorted(set(rows)) or rows[-1] >= self.directions or rows[0] < 0:
            raise ValueError("choices are distinct directions of the tuner, at least one")

    def encode(self) -> str:
        picks = 0
        for row, side in self.choices:
            picks |= int(side) << (2 * row)
        payload = (picks << 2 | DIRECTIONS.index(self.directions)) << _SEED_BITS | self.tuner_seed
        number = payload << 8 | _check(payload)
        digits = []
        while number:
            number, digit = divmod(number, 36)
            digits.append(_ALPHABET[digit])
        return "".join(reversed(digits))

    @classmethod
    def decode(cls, code: str) -> StyleCode | None:
        """The code's tuner and choices; None when ``code`` is no style code."""
        try:
            number = int(code.lower(), 36)
        except ValueError:
            return None
        payload, check = number >> 8, number & 0xFF
        if _check(payload) != check:
            return None
        seed = payload & (2**_SEED_BITS - 1)
        rest = payload >> _SEED_BITS
        directions = DIRECTIONS[rest & 0b11]
        picks = rest >> 2
        choices = []
        for row in range(directions):
            side = (picks >> (2 * row)) & 0b11
            if side == 3:
                return None
            if side:
                choices.append((row, Side(side)))
        if picks >> (2 * directions) or not choices:
            return None
        return cls(seed, directions, tuple(choices))


def _check(payload: int) -> int:
    return hashlib.sha256(str(payload).encode()).digest()[0]


def random_style(seed: int) -> str:
    """The code `--style random` becomes for a job of ``seed``: a random tuner, each direction
    picked A or B, or left out, with equal chances."""
    digest = hashlib.sha256(f"style random {seed}".encode()).digest()
    tuner_seed = int.from_bytes(digest[:4], "big")
    choices = []
    for row in range(RANDOM_DIRECTIONS):
        pick = digest[4 + row % 28] >> (row // 28 * 2) & 0b11
        if pick in (1, 2):
            choices.append((row, Side(pick)))
    return StyleCode(tuner_seed, RANDOM_DIRECTIONS, tuple(choices or [(0, Side.A)])).encode()


def style_parts(value: str) -> list[StyleCode | str]:
    """The parts of a `--style` value: codes, and Niji style names as they are; raises
    ValueError naming the first part that is neither."""
    parts: list[StyleCode | str] = []
    for part in value.split("-"):
        if part.lower() in NIJI_STYLES:
            parts.append(part.lower())
            continue
        code = StyleCode.decode(part)
        if code is None:
            raise ValueError(part)
        parts.append(code)
    return parts
