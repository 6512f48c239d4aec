"""A recipe's picture inputs, decoded and brought to the recipe's size, for any backend."""

from __future__ import annotations

import io
import math

from PIL import Image

from dreamloom.engine.images import open_rgb
from dreamloom.engine.masks import MaskError, binarize, resize_mask
from dreamloom.engine.recipe import Recipe


def init_picture(recipe: Recipe) -> Image.Image:
    """The recipe's init image, RGB, at (recipe.width, recipe.height)."""
    if recipe.init_image is None:
        raise ValueError(f"a {recipe.operation} recipe needs init_image")
    picture = open_rgb(recipe.init_image)
    size = (recipe.width, recipe.height)
    return picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS)


def source_picture(recipe: Recipe) -> Image.Image:
    """The recipe's init image as it is (an upscale's source is smaller than the recipe)."""
    if recipe.init_image is None:
        raise ValueError(f"a {recipe.operation} recipe needs init_image")
    return open_rgb(recipe.init_image)


def recipe_mask(recipe: Recipe) -> Image.Image:
    """The recipe's mask, binary "L" (white = repaint), at the recipe's size."""
    if recipe.mask is None:
        raise ValueError(f"a {recipe.operation} recipe needs a mask")
    with Image.open(io.BytesIO(recipe.mask)) as opened:
        mask = resize_mask(binarize(opened), (recipe.width, recipe.height))
    if mask.getbbox() is None:
        raise MaskError("the mask selects nothing: paint the area to change in white")
    return mask


def steps_for_strength(steps: int, strength: float) -> int:
    """Scheduled steps for a partial denoise: diffusers runs int(steps * strength) of them,
    which must be at least one (a one-step turbo model at 0.35 would otherwise run none)."""
    if not 0.0 < strength <= 1.0:
        raise ValueError("strength must lie in (0, 1]")
    scheduled = max(steps, math.ceil(1.0 / strength))
    while int(scheduled * strength) < 1:  # floating point may leave the product a hair short
        scheduled += 1
    return scheduled
