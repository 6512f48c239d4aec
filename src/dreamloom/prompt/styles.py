"""Style codes picked at submission: ``--sref random`` and ``--style random`` without
``--seed``."""

from __future__ import annotations

from dataclasses import replace

from .model import Prompt
from .resolve import random_style_code
from .style_codes import random_style


def with_style_codes(prompt: Prompt, seed: int) -> Prompt:
    """``prompt`` with each ``--sref random`` and ``--style random`` replaced by the code the
    job's ``seed`` picks, so that the stored prompt shows it and can be reused (the parser does
    this itself when the prompt has ``--seed``)."""
    if prompt.params.style == "random":
        params = replace(prompt.params, style=random_style(seed))
        prompt = replace(prompt, params=params)
    sref = prompt.params.sref
    if not any(value.partition("::")[0] == "random" for value in sref):
        return prompt
    codes = []
    for i, value in enumerate(sref):
        head, sep, weight = value.partition("::")  # "random::3" keeps its weight
        codes.append(f"{random_style_code(seed, i)}{sep}{weight}" if head == "random" else value)
    return replace(prompt, params=replace(prompt.params, sref=tuple(codes)))
