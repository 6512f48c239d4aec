"""The backend contract: a model that runs recipes, with progress and cancellation."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
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
    # What the engine did instead of what was asked (a fallback), in words for the user: the
    # job shows them in its response and the worker logs them. Never silent.
    notes: tuple[str, ...] = field(default=())


class Cancelled(Exception):
    """Raised by `Backend.run` when `cancelled()` turned true; checked between steps."""

    def __init__(self, step: int, compute_seconds: float = 0.0) -> None:
        super().__init__(f"cancelled after step {step}")
        self.step = step
        # The time it computed before it stopped (in a batch: its share), as it is charged.
        self.compute_seconds = compute_seconds


ProgressFn = Callable[[Progress], None]
CancelledFn = Callable[[], bool]


@dataclass(frozen=True)
class BatchMember:
    """One job's recipe in a batch, with its own progress and cancellation."""

    recipe: Recipe
    progress: ProgressFn | None = None
    cancelled: CancelledFn | None = None


class Backend(Protocol):
    info: ModelInfo

    def run(
        self,
        recipe: Recipe,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> EngineResult: ...

    def batch_key(self, recipe: Recipe) -> Hashable | None:
        """Recipes with equal keys may run together in one ``run_batch`` call (same
        operation, size, steps, guidance, tiling...); None: this recipe always runs alone."""
        ...

    def run_batch(self, members: Sequence[BatchMember]) -> list[EngineResult | Cancelled]:
        """Run recipes of one batch key as one batch on the model. Each member's images are
        those of its ``run`` alone (seeds, prompts and negative prompts stay its own); its
        ``compute_seconds`` is its share of the batch's time, by images. A member whose
        ``cancelled()`` turns true gets ``Cancelled`` in its place while the others go on."""
        ...


def run_each(backend: Backend, members: Sequence[BatchMember]) -> list[EngineResult | Cancelled]:
    """``run_batch`` for a backend that does not batch: the members one after the other."""
    results: list[EngineResult | Cancelled] = []
    for member in members:
        try:
            results.append(backend.run(member.recipe, member.progress, member.cancelled))
        except Cancelled as exc:
            results.append(exc)
    return results
