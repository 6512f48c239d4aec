"""Engine tests run the real diffusers code path on the tiny random pipeline (64 px)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dreamloom.engine import Backend, PromptPart, Recipe, load_backend


@pytest.fixture(scope="session")
def single_thread() -> Iterator[None]:
    # The tiny model's operations are far too small to gain from intra-op threads, and on a
    # shared CPU the threads' synchronisation makes each run several times slower.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_backend(model_cache: Path, single_thread: None) -> Backend:
    return load_backend("tiny", cache_dir=model_cache)


def tiny_recipe(**changes: Any) -> Recipe:
    values: dict[str, Any] = {
        "model": "tiny",
        "width": 64,
        "height": 64,
        "seed": 1234,
        "steps": 6,
        "guidance": 7.5,
        "positive": (PromptPart("a lighthouse on a cliff at dusk"),),
    }
    values.update(changes)
    return Recipe(**values)


@pytest.fixture
def recipe() -> Callable[..., Recipe]:
    return tiny_recipe
