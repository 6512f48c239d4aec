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
from dreamloom.engine.models import load_backend, model_info
from dreamloom.engine.recipe import ModelInfo, PromptPart, Recipe, recipe_for_imagine

__all__ = [
    "Backend",
    "Cancelled",
    "CancelledFn",
    "EngineResult",
    "ModelInfo",
    "Progress",
    "ProgressFn",
    "PromptPart",
    "Recipe",
    "load_backend",
    "make_grid",
    "model_info",
    "recipe_for_imagine",
    "split_grid",
]
