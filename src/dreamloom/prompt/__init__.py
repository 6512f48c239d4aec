"""The prompt language: text to validated prompts. Pure, no I/O, imports nothing of ours.

``[image links] text --param value ...`` with ``::`` weights, ``{a, b}`` permutations,
``--repeat``, the account's /settings and /prefer suffix, and option sets.
"""

from __future__ import annotations

from .errors import PromptError
from .model import Prompt, PromptContext, WeightedText
from .params import Params, Speed
from .parser import parse_prompt
from .sizes import aspect_size

__all__ = [
    "Params",
    "Prompt",
    "PromptContext",
    "PromptError",
    "Speed",
    "WeightedText",
    "aspect_size",
    "parse_prompt",
]
