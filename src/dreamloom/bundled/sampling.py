"""Few-step Euler sampling of the rectified flow, with classifier-free guidance.

Pure tensor code: the backend adapter turns a recipe into these arguments (noise from the job
seed, encoded prompt parts, init image and mask) and the result back into pictures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from dreamloom.bundled.model import predict_clean


@dataclass
class Guide:
    """Conditionings of one run: weighted positive parts, and the base the guidance pushes
    away from (the empty caption, or the negative prompt when `--no` is given)."""

    positive: list[tuple[torch.Tensor, torch.Tensor, float]]  # (cond (B,L,D), mask (B,L), w)
    base: tuple[torch.Tensor, torch.Tensor]
    scale: float


@dataclass
class Inpaint:
    """Keep `image` where `keep` is 1; regenerate where it is 0."""

    image: torch.Tensor  # (B, 3, H, W) in [-1, 1]
    keep: torch.Tensor  # (B, 1, H, W) in 0..1


StepFn = Callable[[int, int, torch.Tensor], bool]  # (step, total, predicted clean) -> stop?


def schedule(steps: int, start: float = 1.0) -> list[float]:
    """Times from `start` to 0; spaced more densely near 0, where detail is decided."""
    grid = torch.linspace(0.0, 1.0, steps + 1)
    times = start * (1.0 - grid) ** 1.5
    return [float(t) for t in times]


def guided_clean(unet: Any, x: torch.Tensor, t: float, guide: Guide) -> torch.Tensor:
    """The guided prediction of the clean picture (guidance is linear, so guiding the clean
    prediction is the same as guiding the velocity)."""
    conds = [guide.base] + [(c, m) for c, m, _ in guide.positive]
    cond = torch.cat([c for c, _ in conds])
    mask = torch.cat([m for _, m in conds])
    n = len(conds)
    times = torch.full((x.shape[0] * n,), t)
    out = predict_clean(unet, x.repeat(n, 1, 1, 1), times, cond, mask).chunk(n)
    base = out[0]
    total = sum(w for _, _, w in guide.positive) or 1.0
    mixed = sum(w * v for (_, _, w), v in zip(guide.positive, out[1:], strict=True)) / total
    return base + guide.scale * (mixed - base)


@dataclass
class Churn:
    """Stochastic steps: `share` (0..1) of the noise carried to the next time is replaced by
    fresh noise, drawn from one seeded generator per picture. Re-noising lets the pictures of a
    grid part ways, where the deterministic flow from nearby starts lands on near twins."""

    share: float
    generators: list[torch.Generator]

    def mix(self, carried: torch.Tensor) -> torch.Tensor:
        fresh = torch.stack([torch.randn(carried.shape[1:], generator=g) for g in self.generators])
        return (1.0 - self.share**2) ** 0.5 * carried + self.share * fresh


def sample(
    unet: Any,
    noise: torch.Tensor,
    guide: Guide,
    steps: int,
    *,
    run_steps: int | None = None,
    init: torch.Tensor | None = None,
    strength: float = 1.0,
    inpaint: Inpaint | None = None,
    on_step: StepFn | None = None,
    churn: Churn | None = None,
) -> torch.Tensor:
    """Pictures in [-1, 1]. `run_steps` < `steps` stops early (`--stop`) and returns the
    current estimate of the clean picture, which is softer. `init` with `strength` < 1 starts
    part-way from a given picture (variations, image-to-image). Without `churn` the sampler is
    the deterministic flow."""
    if churn is not None and len(churn.generators) != noise.shape[0]:
        raise ValueError("churn needs one generator per picture")
    with torch.no_grad():
        return _sample(
            unet, noise, guide, steps, run_steps, init, strength, inpaint, on_step, churn
        )


def _sample(
    unet: Any,
    noise: torch.Tensor,
    guide: Guide,
    steps: int,
    run_steps: int | None,
    init: torch.Tensor | None,
    strength: float,
    inpaint: Inpaint | None,
    on_step: StepFn | None,
    churn: Churn | None,
) -> torch.Tensor:
    start = 1.0 if init is None else max(1e-3, min(1.0, strength))
    times = schedule(steps, start)
    x = noise if init is None else (1 - start) * init + start * noise
    total = steps if run_steps is None else max(1, min(steps, run_steps))
    clean = x
    for index in range(total):
        t, t_next = times[index], times[index + 1]
        clean = guided_clean(unet, x, t, guide)
        if churn is None or t_next == 0.0:
            # Euler step of the flow: velocity (x - clean) / t; the last step lands on `clean`.
            x = x + (t_next - t) * (x - clean) / t
        else:
            carried = (x - (1 - t) * clean) / t  # the noise that x holds, by the prediction
            x = (1 - t_next) * clean + t_next * churn.mix(carried)
        if inpaint is not None:
            known = (1 - t_next) * inpaint.image + t_next * noise
            x = inpaint.keep * known + (1 - inpaint.keep) * x
            clean = inpaint.keep * inpaint.image + (1 - inpaint.keep) * clean
        if on_step is not None and on_step(index + 1, total, clean):
            break
    result = x if total == steps else clean
    return result.clamp(-1.0, 1.0)
