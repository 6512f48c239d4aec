"""The engine: recipes to pixels.

Imports only `dreamloom.prompt` of the project. Heavy libraries (diffusers, transformers) load
on first use of a backend, so building recipes and grids stays cheap for the web process.
"""

from dreamloom.engine.backends.base import (
    Backend,
    Cancelled,
    CancelledFn,
    EngineResult,
    Progress,
    ProgressFn,
)
from dreamloom.engine.grid import make_grid, split_grid
from dreamloom.engine.masks import MaskError, decode_mask, decode_mask_png
from dreamloom.engine.models import load_backend, model_info
from dreamloom.engine.operations import (
    recipe_for_outpaint,
    recipe_for_region,
    recipe_for_upscale,
    recipe_for_variation,
)
from dreamloom.engine.recipe import ModelInfo, PromptPart, Recipe, recipe_for_imagine
from dreamloom.engine.references import Reference, ReferenceKind, links_of, references_for

__all__ = [
    "Backend",
    "Cancelled",
    "CancelledFn",
    "EngineResult",
    "MaskError",
    "ModelInfo",
    "Progress",
    "ProgressFn",
    "PromptPart",
    "Recipe",
    "Reference",
    "ReferenceKind",
    "decode_mask",
    "decode_mask_png",
    "links_of",
    "load_backend",
    "make_grid",
    "model_info",
    "recipe_for_imagine",
    "recipe_for_outpaint",
    "recipe_for_region",
    "recipe_for_upscale",
    "recipe_for_variation",
    "references_for",
    "split_grid",
]
