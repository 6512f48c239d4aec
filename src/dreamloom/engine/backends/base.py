"""The backend contract: a model that runs recipes, with progress and cancellation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from dreamloom.engine.recipe import ModelInfo, Recipe


@dataclass
class Progress:
    step: int  # steps done, 1-based
    total: int  # steps this run will make (after `--stop`)
    preview: Image.Image | None  # a cheap, small look at the batch; only every few steps


@dataclass
class EngineResult:
    images: list[Image.Image]
    seeds: list[int]  # one per image, derived from the job seed
    compute_seconds: float  # measured wall time of the generation, the basis of GPU-time charges


class Cancelled(Exception):
    """Raised by `Backend.run` when `cancelled()` turned true; checked between steps."""

    def __init__(self, step: int) -> None:
        super().__init__(f"cancelled after step {step}")
        self.step = step


ProgressFn = Callable[[Progress], None]
CancelledFn = Callable[[], bool]


class Backend(Protocol):
    info: ModelInfo

    def run(
        self,
        recipe: Recipe,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> EngineResult: ...
