"""Describe: a picture in, four prompts out, as a recipe the job queue can store and re-run.

A describe job carries the user's file exactly as received (already checked at submission),
so that a restart can run it again from the database alone. The prompts come from the bundled
model's image encoder, whichever model the operator serves (the diffusers backends have no
captioner); where its weights are not installed (a source checkout that has not built them),
from measuring the pixels alone.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from PIL import Image

log = logging.getLogger(__name__)

# How many prompts a describe answers (Midjourney's /describe: four).
PROMPT_COUNT = 4


class TextOperation(StrEnum):
    """Operations whose result is text, not pixels (``Recipe.operation`` names the others)."""

    DESCRIBE = "describe"


@dataclass(frozen=True, kw_only=True)
class DescribeRecipe:
    """What a describe job needs: the user's image file (PNG, JPEG, WebP or GIF bytes)."""

    image: bytes = field(repr=False)
    operation: TextOperation = TextOperation.DESCRIBE

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": str(self.operation),
            "image": base64.b64encode(self.image).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DescribeRecipe:
        unknown = set(data) - {"operation", "image"}
        if unknown or data.get("operation") != TextOperation.DESCRIBE:
            # A recipe written by a newer version must not run silently with parts ignored.
            raise ValueError(f"not a describe recipe: {sorted(data)}")
        return cls(image=base64.b64decode(str(data["image"])))


# What a completed describe keeps of its recipe: its input is dropped (see the dispatcher).
DESCRIBED_RECIPE: Final = {"operation": str(TextOperation.DESCRIBE)}


def is_describe(recipe: Mapping[str, Any] | None) -> bool:
    return recipe is not None and recipe.get("operation") == TextOperation.DESCRIBE


def aspect_text(width: int, height: int) -> str:
    divisor = math.gcd(width, height) or 1
    return f"--ar {width // divisor}:{height // divisor}"


def describe_prompts(image: Image.Image, *, use_model: bool = True) -> list[str]:
    """The four prompts for ``image`` (RGB), each ending with its aspect ratio.

    ``use_model`` False measures the pixels only (runners without a model: tests, benches)."""
    found = _from_model(image) if use_model else None
    if found is None:
        found = from_pixels(image)
    return [f"{prompt} {aspect_text(*image.size)}" for prompt in found[:PROMPT_COUNT]]


def _from_model(image: Image.Image) -> list[str] | None:
    try:
        # The submodule, not the package's wrapper: importing the submodule replaces the
        # package attribute of the same name.
        from dreamloom.bundled import default_model
        from dreamloom.bundled.describe import describe

        return describe(default_model(), image)
    except (OSError, ImportError):
        log.warning("bundled model unavailable; describing from pixel analysis only")
        return None


def from_pixels(image: Image.Image) -> list[str]:
    """Four prompts from colours and layout alone (no model)."""
    from dreamloom.bundled.analysis import analyse

    facts = analyse(image)
    colour = f"{facts.hue} " if facts.hue else ""
    where = "" if facts.position == "centre" else f" at the {facts.position}"
    return [
        f"a {colour}shape on a {facts.background} background",
        f"a simple {colour}icon{where}, {facts.background} backdrop",
        f"minimal flat illustration, {colour or 'muted '}tones on {facts.background}",
        f"abstract composition{where}, {facts.background} and {colour or 'grey '}colours",
    ]
