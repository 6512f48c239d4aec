"""The prompt language: text to validated prompts. Pure, no I/O, imports nothing of ours.

``[image links] text --param value ...`` with ``::`` weights, ``{a, b}`` permutations,
``--repeat``, the account's /settings and /prefer suffix, and option sets.

Where the seed documents are silent, these choices were made (each explained where it lives):

- A parameter given twice in one source is an error; across sources the prompt beats the
  suffix, which beats /settings (``--fast`` in a prompt beats ``--relax`` in settings).
- ``--ar`` is limited to 1:14 .. 14:1; ``--repeat`` to 1..40 (the largest plan batch).
- ``--q``: V7 1/2/4; V6, 6.1, Niji 6 and V1-V3 0.25/0.5/1/2; V4, V5.x, Niji 4/5 0.25/0.5/1.
- ``--iw``: 0..3 from V6 on, 0..2 for V4-V5.x, -2..2 for V1-V3 (the early FAQ allows negatives).
- ``--sref``/``--p`` need V6 or later; ``--raw`` V5.1 or later (or Niji 5/6); ``--draft`` V7;
  ``--style <code>`` V5.2 and Niji 5/6; ``--sw``, ``--sv`` need ``--sref`` as ``--cw`` needs
  ``--cref``. ``--iw`` without an image prompt is accepted (and has nothing to weigh).
- ``--sref random`` becomes a numeric code derived from ``--seed`` when there is one.
- ``--niji`` alone is Niji 6; ``--v niji 6`` is accepted as the settings menu spells it.
- The 6000-character limit applies to what was typed and to each job's ``normalized()`` form,
  so that the canonical form is always a valid prompt again.
- Control characters are dropped; whitespace collapses except inside quotes.
"""

from __future__ import annotations

from .errors import PromptError
from .model import Prompt, PromptContext, WeightedText
from .params import Params, Speed
from .parser import parse_prompt
from .sizes import aspect_size
from .styles import with_style_codes

__all__ = [
    "Params",
    "Prompt",
    "PromptContext",
    "PromptError",
    "Speed",
    "WeightedText",
    "aspect_size",
    "parse_prompt",
    "with_style_codes",
]
