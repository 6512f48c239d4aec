"""dreamloom's own small text-to-image model, trained on freely licensed emoji artwork.

It ships inside the package (`dreamloom/models/bundled/`) so the product works with no network:
imagine through `dreamloom.engine.backends.bundled.BundledBackend`, and describe, image
embeddings and text search through the functions here. `training.main` rebuilds it.
Heavy imports (torch, diffusers, transformers) happen on first use.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from dreamloom.bundled.pipeline import BundledModel


@lru_cache(maxsize=1)
def default_model() -> BundledModel:
    """The packaged model, loaded once per process."""
    from dreamloom.bundled.pipeline import BundledModel

    return BundledModel.load()


def build_dataset(out_dir: Path, **kwargs: Any) -> Path:
    from dreamloom.bundled.dataset import build_dataset as build

    return build(out_dir, **kwargs)


def train(data_dir: Path, out_dir: Path, steps: int, seed: int = 0, **kwargs: Any) -> Path:
    from dreamloom.bundled.training import train as run

    return run(data_dir, out_dir, steps=steps, seed=seed, **kwargs)


def describe(image: Image.Image) -> list[str]:
    """Four distinct prompts that could have made `image`."""
    from dreamloom.bundled.describe import describe as run

    return run(default_model(), image)


def embed_image(image: Image.Image) -> torch.Tensor:
    """Unit vector (384,) of `image` in the shared text space."""
    return default_model().embed_images([image])[0]


def embed_text(text: str) -> torch.Tensor:
    """Unit vector (384,) of `text` (all-MiniLM-L6-v2 sentence embedding)."""
    return default_model().embed_text(text)


__all__ = ["build_dataset", "default_model", "describe", "embed_image", "embed_text", "train"]
