"""Recipes for the buttons that need the engine: variations, region edits, zoom/pan/square
outpainting, upscales, reroll, and blend.

This is the one place where a pressed button becomes an engine ``Recipe`` (through the
engine's builders in ``engine.operations``): when the engine changes, only this module
follows. User input problems (a bad mask, a zoom out of range) become ``ButtonInputError``
with the text the user sees.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Final, cast

from PIL import Image, ImageOps

from dreamloom.jobs.buttons import ButtonAction

if TYPE_CHECKING:
    from dreamloom.engine import ModelInfo, Recipe
    from dreamloom.engine.canvas import Pan
    from dreamloom.engine.operations import UpscaleMode
    from dreamloom.prompt import Prompt

# A blend starts from the inputs mixed in equal parts; this much of the schedule is re-run so
# the mix becomes one coherent picture.
BLEND_STRENGTH: Final = 0.8
# Custom Zoom's --zoom: more than 1 (no zoom is no button) and at most 2, as Zoom Out 2x.
ZOOM_RANGE: Final = (1.0, 2.0)

_ZOOM_PARAM = re.compile(r"(?:^|\s)--zoom\s+(\S+)")


class ButtonInputError(ValueError):
    """A button's input (mask, zoom value) is invalid; ``str()`` is the user's message."""


def split_zoom(text: str) -> tuple[str, float | None]:
    """Remove ``--zoom N`` from a Custom Zoom prompt; the prompt layer does not know it."""
    match = _ZOOM_PARAM.search(text)
    if match is None:
        return text, None
    try:
        value = float(match.group(1))
    except ValueError:
        raise ButtonInputError(f"Invalid value for --zoom: {match.group(1)}") from None
    low, high = ZOOM_RANGE
    if not low < value <= high:
        raise ButtonInputError(f"--zoom must be more than {low:g} and at most {high:g}")
    return (text[: match.start()] + text[match.end() :]).strip(), value


def strong_variation(strength: str | None, variability: str) -> bool:
    """Vary (Strong)/(Subtle) say it; V1-V4 and Make Variations follow the account's
    variability setting (high: strong)."""
    if strength in ("subtle", "strong"):
        return strength == "strong"
    return variability == "high"


def recipe_for_button(
    action: ButtonAction,
    parent: Recipe,
    image_png: bytes,
    *,
    seed: int,
    info: ModelInfo,
    prompt: Prompt | None = None,
    variability: str = "high",
    mask: str | None = None,
    zoom: float | None = None,
) -> Recipe:
    """The recipe of a button job working on ``image_png`` (a grid image or a single one).

    ``parent`` is the recipe that made the picture; ``prompt`` a Remix prompt replacing its
    text (None: keep the parent's).
    """
    from dreamloom.engine.masks import MaskError, decode_mask_png
    from dreamloom.engine.operations import (
        recipe_for_outpaint,
        recipe_for_region,
        recipe_for_upscale,
        recipe_for_variation,
    )

    op = action.operation
    try:
        if op == "variation":
            strong = strong_variation(action.strength, variability)
            return recipe_for_variation(
                parent, image_png, strong=strong, seed=seed, prompt=prompt, info=info
            )
        if op == "region":
            if not mask:
                raise ButtonInputError("Parameter mask is required for Vary (Region)")
            return recipe_for_region(
                parent, image_png, decode_mask_png(mask), seed=seed, prompt=prompt, info=info
            )
        if op == "zoom":
            factor = zoom if zoom is not None else (action.zoom or 2.0)
            return recipe_for_outpaint(
                parent, image_png, zoom=factor, seed=seed, prompt=prompt, info=info
            )
        if op == "pan":
            return recipe_for_outpaint(
                parent,
                image_png,
                pan=cast("Pan", action.direction),
                seed=seed,
                prompt=prompt,
                info=info,
            )
        if op == "square":
            return recipe_for_outpaint(
                parent, image_png, make_square=True, seed=seed, prompt=prompt, info=info
            )
        if op == "upscale":
            mode = cast("UpscaleMode", action.upscale or "subtle")
            return recipe_for_upscale(
                image_png, mode=mode, seed=seed, parent=parent, info=info, redo=action.redo
            )
    except MaskError as err:
        raise ButtonInputError(err.message) from None
    raise ValueError(f"no recipe for button operation {op!r}")


def blend_init(images: Sequence[bytes], width: int, height: int) -> bytes:
    """The starting picture of a blend: the inputs, each cropped to the target shape, mixed
    in equal parts. The img2img pass then turns the mix into one coherent image."""
    if len(images) < 2:
        raise ButtonInputError("At least 2 images are required for blend")
    mixed: Image.Image | None = None
    for count, data in enumerate(images, start=1):
        with Image.open(io.BytesIO(data)) as opened:
            picture = ImageOps.exif_transpose(opened).convert("RGB")
        fitted = ImageOps.fit(picture, (width, height), Image.Resampling.LANCZOS)
        mixed = fitted if mixed is None else Image.blend(mixed, fitted, 1.0 / count)
    assert mixed is not None
    buffer = io.BytesIO()
    mixed.save(buffer, format="PNG")
    return buffer.getvalue()


def recipe_for_blend(prompt: Prompt, info: ModelInfo, seed: int, images: Sequence[bytes]) -> Recipe:
    """A grid blended from 2-5 pictures, at the prompt's aspect ratio."""
    from dreamloom.engine import recipe_for_imagine

    base = recipe_for_imagine(prompt, info, seed)
    init = blend_init(images, base.width, base.height)
    return replace(base, operation="img2img", init_image=init, strength=BLEND_STRENGTH)
