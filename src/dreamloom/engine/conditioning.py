"""From a recipe's references to conditioning vectors, the same way for every backend.

A backend supplies one thing: its image encoder (pictures -> vectors). This module does the
rest that the backends share:
- the picture a reference stands for (CHARACTER references cropped toward the face first);
- the vector a code stands for: seeded by (kind, code, code_version), drawn in the encoder's
  own space with the statistics of real embeddings, so a code acts like some picture would;
- how references of one group mix (a weighted mean) and how strongly they act (a strength that
  grows with the weight and saturates, so `--iw 3` is stronger than `--iw 1` but not three
  times an image prompt that already dominates).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import torch
from PIL import Image, ImageDraw

from dreamloom.engine.images import open_rgb
from dreamloom.engine.noise import derive_seed
from dreamloom.engine.references import Reference, ReferenceKind

ALL_KINDS: frozenset[ReferenceKind] = frozenset(ReferenceKind)

# Strength of a group of references by its mean weight w: STRENGTH_CAP * w / (w + 1). The
# standard weight (1: `--iw 1`, `--sw 100`, `--ow 100`) gives 0.6, IP-Adapter's usual scale
# beside a text prompt; 2 gives 0.8, 3 gives 0.9 and the cap is never quite reached.
STRENGTH_CAP = 1.2
# A CHARACTER crop keeps `crop` of each side; the box's top moves down by this share of what
# is cut, so a tight crop sits on the upper middle, where a portrait has its face.
CROP_TOP_SHARE = 0.25


class Group(Enum):
    """References act in two groups: what is in the picture, and how it looks."""

    CONTENT = "content"  # image prompts, --cref, --oref
    STYLE = "style"  # --sref (links and codes), --p (profiles, moodboards, codes)


GROUP_OF: dict[ReferenceKind, Group] = {
    ReferenceKind.IMAGE: Group.CONTENT,
    ReferenceKind.CHARACTER: Group.CONTENT,
    ReferenceKind.OMNI: Group.CONTENT,
    ReferenceKind.STYLE: Group.STYLE,
    ReferenceKind.PERSONAL: Group.STYLE,
}


def grouped(references: Sequence[Reference]) -> dict[Group, list[Reference]]:
    """The references of each group that has any, in recipe order."""
    groups: dict[Group, list[Reference]] = {}
    for reference in references:
        groups.setdefault(GROUP_OF[reference.kind], []).append(reference)
    return groups


def strength(weight: float) -> float:
    """How strongly references of (mean) weight `weight` act: 0 at 0, monotone, saturating."""
    w = max(0.0, weight)
    return STRENGTH_CAP * w / (w + 1.0)


def crop_box(size: tuple[int, int], crop: float) -> tuple[int, int, int, int]:
    """The box (left, top, right, bottom) keeping `crop` of each side around the upper middle."""
    width, height = size
    keep_w, keep_h = max(1, round(width * crop)), max(1, round(height * crop))
    left = (width - keep_w) // 2
    top = round((height - keep_h) * CROP_TOP_SHARE)
    return left, top, left + keep_w, top + keep_h


def reference_picture(reference: Reference) -> Image.Image:
    """The RGB picture of an image reference, cropped as its kind says."""
    if reference.image is None:
        raise ValueError("a code reference has no picture")
    picture = open_rgb(reference.image)
    if reference.kind is ReferenceKind.CHARACTER and reference.crop < 1.0:
        picture = picture.crop(crop_box(picture.size, reference.crop))
    return picture


@dataclass(frozen=True)
class EmbeddingStats:
    """Per-dimension mean and spread, and the mean norm, of an encoder's embeddings."""

    mean: torch.Tensor  # (dim,)
    std: torch.Tensor  # (dim,)
    norm: float

    @classmethod
    def of(cls, embeddings: torch.Tensor) -> EmbeddingStats:
        samples = embeddings.detach().float().cpu()
        return cls(
            mean=samples.mean(0),
            std=samples.std(0).clamp(min=1e-6),
            norm=float(samples.norm(dim=-1).mean()),
        )


def probe_pictures(side: int = 64) -> list[Image.Image]:
    """A fixed, varied set of pictures drawn in code (plain colours, gradients, shapes): the
    sample whose embeddings give `EmbeddingStats`. No file, no download, same everywhere."""
    colours = [
        (220, 40, 40), (40, 160, 60), (40, 70, 210), (235, 200, 50),
        (240, 240, 240), (25, 25, 25), (150, 80, 190), (250, 140, 30),
    ]  # fmt: skip
    pictures = [Image.new("RGB", (side, side), colour) for colour in colours]
    for index, (first, second) in enumerate(zip(colours, colours[3:] + colours[:3], strict=True)):
        picture = Image.new("RGB", (side, side), first)
        draw = ImageDraw.Draw(picture)
        if index % 2:
            draw.ellipse((side // 4, side // 4, 3 * side // 4, 3 * side // 4), fill=second)
        else:
            for row in range(side // 2, side):
                mix = (row - side // 2) / (side // 2)
                shade = tuple(
                    round(a * (1 - mix) + b * mix) for a, b in zip(first, second, strict=True)
                )
                draw.line((0, row, side, row), fill=shade)
        pictures.append(picture)
    return pictures


def code_vector(reference: Reference, stats: EmbeddingStats) -> torch.Tensor:
    """The deterministic vector of a code reference: one Gaussian draw around the embeddings'
    mean with their per-dimension spread, rescaled to their mean norm. Seeded by kind, code
    and code version only: `--sref 123` is the same style in every job, on every machine."""
    if reference.code is None:
        raise ValueError("an image reference has no code")
    seed = derive_seed(
        reference.code, "reference-code", reference.kind.value, reference.code_version
    )
    generator = torch.Generator(device="cpu").manual_seed(seed)
    draw = torch.randn(stats.mean.shape, generator=generator, dtype=torch.float32)
    vector = stats.mean + stats.std * draw
    return vector * (stats.norm / float(vector.norm().clamp(min=1e-6)))


def mix(vectors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """The weighted mean of `vectors`, brought back to their weighted mean norm (averaging
    vectors that point apart shortens them, and a short embedding acts weakly)."""
    stack = torch.stack([v.float() for v in vectors])
    w = torch.tensor(list(weights), dtype=torch.float32)
    w = w / w.sum()
    mean = (w[:, None] * stack).sum(0)
    target = float((w * stack.norm(dim=-1)).sum())
    return mean * (target / float(mean.norm().clamp(min=1e-6)))


def mean_weight(references: Sequence[Reference]) -> float:
    return math.fsum(r.weight for r in references) / len(references)


def reference_vectors(
    references: Sequence[Reference],
    encode: Callable[[list[Image.Image]], torch.Tensor],
    stats: Callable[[], EmbeddingStats],
) -> list[torch.Tensor]:
    """One vector per reference, in order: pictures through `encode` (one call for all of
    them), codes from `stats` (asked for only when a code is present)."""
    pictures = [reference_picture(r) for r in references if r.image is not None]
    encoded = iter(encode(pictures).float().cpu()) if pictures else iter(())
    vectors: list[torch.Tensor] = []
    for reference in references:
        if reference.image is not None:
            vectors.append(next(encoded))
        else:
            vectors.append(code_vector(reference, stats()))
    return vectors
