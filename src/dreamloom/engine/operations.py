"""Recipes for the buttons that make new pixels from an existing picture.

| button | recipe |
|---|---|
| V1-V4, Make Variations, Vary (Subtle/Strong) | `recipe_for_variation`: img2img, batch 4 |
| Vary (Region) | `recipe_for_region`: inpainting inside the user's mask, batch 4 |
| Zoom Out 1.5x/2x, Custom Zoom, pans, Make Square | `recipe_for_outpaint`: inpaint a grown canvas |
| Upscale (Subtle/Creative), legacy Upscale (2x/4x) | `recipe_for_upscale`: Real-ESRGAN, batch 1 |

Like `recipe_for_imagine`, these are pure: they decode the picture to measure and prepare it,
and return plain data. `parent` is the recipe of the job whose picture is used; its model,
steps, guidance and prompt carry over. `seed` is the new job's seed (the backend derives each
image's seed from it). A remix `prompt` replaces only the text conditioning (`::` parts and
`--no`); the parent's other parameters stay. `info`, when given, is the model's: its native area
sets the pixel budget (otherwise the parent's area stands in, right for a parent made by
imagine) and its side multiple the rounding.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image

from dreamloom.engine.canvas import PIXEL_BUDGET, Pan, compose, plan_canvas
from dreamloom.engine.images import open_rgb, png_bytes
from dreamloom.engine.masks import MaskError, decode_mask, resize_mask
from dreamloom.engine.recipe import LATENT_MULTIPLE, ModelInfo, PromptPart, Recipe, conditioning_for

if TYPE_CHECKING:
    from dreamloom.prompt import Prompt

UpscaleMode = Literal["subtle", "creative", "2x", "4x"]

# Share of the denoising schedule that is re-run from the picture: Subtle keeps composition
# and colours and changes details, Strong re-interprets the prompt around the original.
SUBTLE_STRENGTH = 0.35
STRONG_STRENGTH = 0.7
# Inside a region or a new canvas area everything is generated afresh; the pixels outside are
# pasted back by the backend, so the picture there cannot drift.
REGION_STRENGTH = 1.0
# Upscale (Creative): a light refine pass over the super-resolved picture adds detail and may
# adjust it, as Midjourney describes; Subtle stays the super-resolution alone.
CREATIVE_STRENGTH = 0.3
# Redo of a super-resolution alone (Subtle, 2x, 4x): the super-resolution is deterministic, so a
# redo adds a faint refine pass with its new seed. The early FAQ's "Light Upscale Redo" "redoes
# the upscaling, with a different algorithm": a new take that keeps the picture.
REDO_STRENGTH = 0.12
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
UPSCALE_FACTORS: dict[str, int] = {"subtle": 2, "creative": 2, "2x": 2, "4x": 4}
VARIATION_BATCH = 4


def recipe_for_variation(
    parent: Recipe,
    image_png: bytes,
    *,
    strong: bool,
    seed: int,
    prompt: Prompt | None = None,
    info: ModelInfo | None = None,
) -> Recipe:
    """Four variations of `image_png` at the parent's size (within the pixel budget)."""
    image = open_rgb(image_png)
    size = _fit((parent.width, parent.height), _budget(parent, info), _multiple(info))
    return _derived(
        parent,
        prompt,
        operation="img2img",
        seed=seed,
        size=size,
        init_image=_png_at(image, image_png, size),
        mask=None,
        strength=STRONG_STRENGTH if strong else SUBTLE_STRENGTH,
        batch=VARIATION_BATCH,
    )


def recipe_for_region(
    parent: Recipe,
    image_png: bytes,
    mask_png: bytes,
    *,
    seed: int,
    prompt: Prompt | None = None,
    info: ModelInfo | None = None,
) -> Recipe:
    """Four versions of `image_png` repainted inside the mask (white = repaint), at the
    picture's size within the pixel budget. Raises `MaskError` for a mask of another shape or
    one that selects nothing."""
    image = open_rgb(image_png)
    size = _fit(image.size, _budget(parent, info), _multiple(info))
    mask = resize_mask(decode_mask(mask_png, image.size), size)
    if mask.getbbox() is None:
        raise MaskError("the mask selects too little to survive the picture's resizing")
    return _derived(
        parent,
        prompt,
        operation="inpaint",
        seed=seed,
        size=size,
        init_image=_png_at(image, image_png, size),
        mask=png_bytes(mask),
        strength=REGION_STRENGTH,
        batch=VARIATION_BATCH,
    )


def recipe_for_outpaint(
    parent: Recipe,
    image_png: bytes,
    *,
    zoom: float | None = None,
    pan: Pan | None = None,
    make_square: bool = False,
    seed: int,
    prompt: Prompt | None = None,
    info: ModelInfo | None = None,
) -> Recipe:
    """Four pictures on an enlarged canvas, the original kept in place: exactly one of `zoom`
    (Zoom Out 1.5x/2x, Custom Zoom: 1 < zoom <= 2, the canvas grows `zoom` times per side),
    `pan` (the canvas grows by half a side towards it) or `make_square`.

    A canvas beyond `PIXEL_BUDGET` times the native area is scaled down as a whole, so the
    original then appears smaller than it was (see `canvas.plan_canvas`).
    """
    image = open_rgb(image_png)
    canvas = plan_canvas(
        image.size,
        zoom=zoom,
        pan=pan,
        make_square=make_square,
        budget_area=_budget(parent, info),
        multiple=_multiple(info),
    )
    picture, mask = compose(image, canvas)
    return _derived(
        parent,
        prompt,
        operation="outpaint",
        seed=seed,
        size=(canvas.width, canvas.height),
        init_image=png_bytes(picture),
        mask=png_bytes(mask),
        strength=REGION_STRENGTH,
        batch=VARIATION_BATCH,
        # The grown canvas is no longer the torus the parent's `--tile` made.
        tile=False,
    )


def recipe_for_upscale(
    image_png: bytes,
    *,
    mode: UpscaleMode,
    seed: int,
    parent: Recipe | None,
    info: ModelInfo | None = None,
    redo: bool = False,
) -> Recipe:
    """One picture, `image_png` enlarged 2x (Subtle, Creative, "2x") or 4x ("4x").

    Creative refines the super-resolved picture at `CREATIVE_STRENGTH` with the parent's
    prompt (the empty prompt without a parent); a `redo` of the others at `REDO_STRENGTH`.
    The size is rounded to whole latent cells.
    """
    if mode not in UPSCALE_FACTORS:
        raise ValueError(f"upscale mode must be one of {', '.join(UPSCALE_FACTORS)}")
    factor = UPSCALE_FACTORS[mode]
    image = open_rgb(image_png)
    size = (_round_to(image.width * factor), _round_to(image.height * factor))
    base = parent if parent is not None else _parentless(info)
    return replace(
        base,
        operation="upscale",
        seed=int(seed),
        width=size[0],
        height=size[1],
        init_image=_png_at(image, image_png, image.size),
        mask=None,
        strength=_upscale_strength(mode, redo),
        batch=1,
        # An upscale finishes a picture: a softer, stopped refine pass would undo its point.
        stop_fraction=1.0,
    )


def _upscale_strength(mode: str, redo: bool) -> float | None:
    if mode == "creative":
        return CREATIVE_STRENGTH
    return REDO_STRENGTH if redo else None


def _derived(
    parent: Recipe,
    prompt: Prompt | None,
    *,
    seed: int,
    size: tuple[int, int],
    **changes: Any,
) -> Recipe:
    if prompt is not None:
        changes["positive"], changes["negative"] = conditioning_for(prompt)
    return replace(parent, seed=int(seed), width=size[0], height=size[1], **changes)


def _parentless(info: ModelInfo | None) -> Recipe:
    model = info or ModelInfo(name="")
    return Recipe(
        model=model.name,
        width=LATENT_MULTIPLE,
        height=LATENT_MULTIPLE,
        seed=0,
        steps=model.default_steps,
        guidance=model.default_guidance,
        positive=(PromptPart(""),),
    )


def _budget(parent: Recipe, info: ModelInfo | None) -> float:
    native_area = info.native_size**2 if info is not None else parent.width * parent.height
    return PIXEL_BUDGET * native_area


def _multiple(info: ModelInfo | None) -> int:
    return max(LATENT_MULTIPLE, info.multiple) if info is not None else LATENT_MULTIPLE


def _fit(size: tuple[int, int], budget_area: float, multiple: int) -> tuple[int, int]:
    """`size` in whole multiples, scaled down (never up, and then rounded down) to the budget."""
    scale = math.sqrt(budget_area / (size[0] * size[1]))
    if scale >= 1.0:
        return _round_to(size[0], multiple), _round_to(size[1], multiple)
    return _floor_to(size[0] * scale, multiple), _floor_to(size[1] * scale, multiple)


def _round_to(value: float, multiple: int = LATENT_MULTIPLE) -> int:
    return max(multiple, round(value / multiple) * multiple)


def _floor_to(value: float, multiple: int) -> int:
    return max(multiple, math.floor(value / multiple) * multiple)


def _png_at(image: Image.Image, original: bytes, size: tuple[int, int]) -> bytes:
    """The picture as PNG at `size`; the caller's bytes as they are when already that."""
    if image.size == size and original.startswith(PNG_SIGNATURE):
        return original
    return png_bytes(image if image.size == size else image.resize(size, Image.Resampling.LANCZOS))
