"""Bundled-model tests run the packaged weights on the CPU; none needs the npm artwork."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dreamloom.engine import PromptPart, Recipe


@pytest.fixture(scope="session")
def one_thread() -> Iterator[None]:
    # The model's operations are small; on a shared 2-core CPU two intra-op threads measured
    # several times slower than one (they spin waiting for each other).
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def backend(one_thread: None) -> Any:
    from dreamloom.bundled.pipeline import PACKAGE_WEIGHTS
    from dreamloom.engine.backends.bundled import BundledBackend

    if not (PACKAGE_WEIGHTS / "unet" / "config.json").exists():
        pytest.skip("packaged bundled weights are missing")
    return BundledBackend.load()


def make_recipe(text: str = "a red fox on a blue background", **changes: Any) -> Recipe:
    values: dict[str, Any] = {
        "model": "bundled",
        "width": 256,
        "height": 256,
        "seed": 7,
        "steps": 6,
        "guidance": 3.0,
        "batch": 2,
        "positive": (PromptPart(text),),
    }
    values.update(changes)
    return Recipe(**values)


@pytest.fixture(scope="session")
def recipe() -> Callable[..., Recipe]:
    """A small grid recipe for the bundled model: `recipe(text, **changes)`."""
    return make_recipe
