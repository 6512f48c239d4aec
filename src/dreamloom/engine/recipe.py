"""Recipes: everything a backend needs to make pixels, as plain data.

A recipe is built once (at submission) from a parsed prompt and the model's facts, stored with
the job and shipped to a worker. It names no model object and no tensor, so it pickles and
round-trips through JSON; together with the model version it is deterministic on one machine.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, get_args

from dreamloom.engine.references import Reference, ReferenceKind

if TYPE_CHECKING:
    from dreamloom.prompt import Prompt

Operation = Literal["imagine", "img2img", "inpaint", "outpaint", "upscale"]
OPERATIONS: tuple[str, ...] = get_args(Operation)

# `--no x` is documented by Midjourney as the same as `x::-.5`.
NO_WEIGHT = 0.5

# Sides are multiples of a latent cell (8 px for SD's VAE). Multiples of 64 would give a UNet
# with three downsamplings whole blocks at every level, but they cost the aspect ratio: at a
# 256 px native side 3:2 and 16:9 both came out 320x192. diffusers' UNet takes latent sides that
# its downsamplings do not divide (it passes each skip connection's size to the upsampler:
# `forward_upsample_size`), so the finer grid is safe.
LATENT_MULTIPLE = 8


@dataclass(frozen=True)
class PromptPart:
    """One conditioning text and its weight (positive for both lists; the list says the sign)."""

    text: str
    weight: float = 1.0


@dataclass(frozen=True)
class ModelInfo:
    """What the recipe builder needs to know about a model, obtainable without loading it."""

    name: str
    native_size: int = 512  # side of the square the model was trained at, in pixels
    multiple: int = LATENT_MULTIPLE  # pixels per latent cell: sides must be multiples of it
    default_steps: int = 30
    default_guidance: float = 7.5
    # Whether negatives act through classifier-free guidance; distilled one-step models have
    # none, and the diffusers backend moves their text embedding instead (docs/parameters.md).
    supports_negative: bool = True
    # `multiple` is what the model accepts: a latent cell (8) for SD and SDXL, a packed 2x2 patch
    # of cells (16) for FLUX and SD3, any multiple of 8 for the bundled model (it samples at
    # its own grid and is enlarged to the size asked).
    # The reference kinds this model can be conditioned by (image prompts, --sref, --cref, --oref,
    # --p); the service refuses a prompt that asks for another, naming the model.
    reference_kinds: frozenset[ReferenceKind] = frozenset()


@dataclass(frozen=True, kw_only=True)
class Recipe:
    model: str
    width: int
    height: int
    seed: int  # the job seed; per-image seeds are derived from it by the backend
    steps: int
    guidance: float
    positive: tuple[PromptPart, ...]
    negative: tuple[PromptPart, ...] = ()
    operation: Operation = "imagine"
    batch: int = 4
    chaos: float = 0.0  # 0..1: diversity between the images of one batch
    weird: float = 0.0  # 0..1: per-image perturbation of the conditioning
    tile: bool = False
    stop_fraction: float = 1.0  # (0, 1]: share of the denoising schedule that is run
    stylize: int = 100  # kept as typed: guidance is derived from it, later conditioning may be too
    # Guidance-free models (SD-Turbo): the `--stylize` lever that guidance is elsewhere. The
    # text conditioning is extrapolated from the unconditional one by this factor (1: as encoded).
    conditioning_scale: float = 1.0
    # Image operations (img2img, inpaint, outpaint, upscale): PNG bytes and denoising strength.
    init_image: bytes | None = field(default=None, repr=False)
    mask: bytes | None = field(default=None, repr=False)
    strength: float | None = None
    # Image prompts, style/character/omni references, personalization (engine.references).
    references: tuple[Reference, ...] = ()

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.operation not in OPERATIONS:
            problems.append(f"unknown operation {self.operation!r}")
        for side in ("width", "height"):
            value = getattr(self, side)
            if value <= 0 or value % LATENT_MULTIPLE:
                problems.append(f"{side} must be a positive multiple of {LATENT_MULTIPLE}")
        if self.batch < 1:
            problems.append("batch must be at least 1")
        if self.steps < 1:
            problems.append("steps must be at least 1")
        if not 0.0 <= self.chaos <= 1.0 or not 0.0 <= self.weird <= 1.0:
            problems.append("chaos and weird must lie in [0, 1]")
        if not 0.0 < self.stop_fraction <= 1.0:
            problems.append("stop_fraction must lie in (0, 1]")
        if self.strength is not None and not 0.0 <= self.strength <= 1.0:
            problems.append("strength must lie in [0, 1]")
        if not self.conditioning_scale > 0:
            problems.append("conditioning_scale must be positive")
        if any(part.weight <= 0 for part in (*self.positive, *self.negative)):
            problems.append("part weights must be positive (the list gives the sign)")
        if problems:
            raise ValueError("invalid recipe: " + "; ".join(problems))

    def steps_to_run(self, scheduled: int) -> int:
        """How many of `scheduled` denoising steps `stop_fraction` lets run (at least one)."""
        return max(1, min(scheduled, math.floor(scheduled * self.stop_fraction + 0.5)))

    def to_dict(self) -> dict[str, Any]:
        # What ``asdict`` gives, built by hand: it deep-copies every field (image bytes
        # included), and every submission pays for it.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        for key in ("positive", "negative"):
            data[key] = tuple({"text": p.text, "weight": p.weight} for p in data[key])
        for key in ("init_image", "mask"):
            raw = getattr(self, key)
            data[key] = None if raw is None else base64.b64encode(raw).decode("ascii")
        data["references"] = [r.to_dict() for r in self.references]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            # A recipe written by a newer version must not run silently with parts ignored.
            raise ValueError(f"unknown recipe fields: {sorted(unknown)}")
        values = dict(data)
        for key in ("positive", "negative"):
            if key in values:
                values[key] = tuple(
                    PromptPart(str(p["text"]), float(p["weight"])) for p in values[key]
                )
        for key in ("init_image", "mask"):
            if values.get(key) is not None:
                values[key] = base64.b64decode(values[key])
        values["references"] = tuple(Reference.from_dict(r) for r in values.get("references", ()))
        return cls(**values)


_FIELD_NAMES = tuple(f.name for f in fields(Recipe))


def steps_for(default_steps: int, quality: float, draft: bool) -> int:
    """`--q` is Midjourney's GPU-time multiplier, so it scales the step budget linearly;
    `--draft` halves it (Midjourney: draft jobs cost half)."""
    steps = default_steps * quality
    if draft:
        steps /= 2
    return max(1, round(steps))


def stylize_ratio(stylize: int, raw: bool) -> float:
    """`--s` 0..1000 as a factor around 1 (at `--s 100`), piecewise linear: 0 gives 0.6, 1000
    gives 1.6. `--style raw` takes 15% off, as raw means "less of the house style"."""
    s = min(max(stylize, 0), 1000)
    ratio = 0.6 + 0.4 * s / 100 if s <= 100 else 1.0 + 0.6 * (s - 100) / 900
    return ratio * 0.85 if raw else ratio


def guidance_for(stylize: int, default_guidance: float, raw: bool) -> float:
    """Map `--s` monotonically onto guidance around the model's default (`stylize_ratio`).

    Guidance at or below 1 means the model runs without classifier-free guidance (distilled
    turbo models): raising it would double the cost and burn the image, so such a model keeps
    its default and stylize acts through `conditioning_scale_for` instead.
    """
    if default_guidance <= 1.0:
        return default_guidance
    return max(1.0, round(default_guidance * stylize_ratio(stylize, raw), 4))


def conditioning_scale_for(stylize: int, default_guidance: float, raw: bool) -> float:
    """`--s` (and `--style raw`) on a guidance-free model: the factor by which the backend
    extrapolates the text conditioning from the unconditional one. 1 on guided models, where
    guidance is the lever."""
    if default_guidance > 1.0:
        return 1.0
    return round(stylize_ratio(stylize, raw), 4)


def size_multiple(info: ModelInfo) -> int:
    """The multiple `--ar` sizes snap to: the model's own (see `ModelInfo.multiple`)."""
    return max(LATENT_MULTIPLE, info.multiple)


def conditioning_for(prompt: Prompt) -> tuple[tuple[PromptPart, ...], tuple[PromptPart, ...]]:
    """(positive, negative) parts of a prompt: `::` weights by sign, `--no` at NO_WEIGHT.

    An all-negative prompt keeps one empty positive part (the model's unconditional text)."""
    positive = tuple(PromptPart(p.text, p.weight) for p in prompt.parts if p.weight > 0)
    negative = tuple(PromptPart(p.text, -p.weight) for p in prompt.parts if p.weight < 0)
    negative += tuple(PromptPart(text, NO_WEIGHT) for text in prompt.params.no)
    return positive or (PromptPart("", 1.0),), tuple(p for p in negative if p.text.strip())


def recipe_for_imagine(
    prompt: Prompt, info: ModelInfo, seed: int, references: tuple[Reference, ...] = ()
) -> Recipe:
    """The recipe for an imagine job; `seed` is the job seed chosen by the caller (`--seed`
    or drawn); `references` what `engine.references.references_for` made of its links."""
    # Imported here so that the engine's other modules stay usable on their own.
    from dreamloom.prompt import aspect_size

    params = prompt.params
    width, height = aspect_size(params.aspect, info.native_size, multiple=size_multiple(info))
    positive, negative = conditioning_for(prompt)
    raw = bool(params.raw) or params.style == "raw"
    return Recipe(
        operation="imagine",
        model=info.name,
        width=int(width),
        height=int(height),
        seed=int(seed),
        steps=steps_for(info.default_steps, float(params.quality), bool(params.draft)),
        guidance=guidance_for(int(params.stylize), info.default_guidance, raw),
        conditioning_scale=conditioning_scale_for(int(params.stylize), info.default_guidance, raw),
        positive=positive,
        negative=negative,
        chaos=float(params.chaos) / 100,
        weird=float(params.weird) / 3000,
        tile=bool(params.tile),
        stop_fraction=float(params.stop) / 100,
        stylize=int(params.stylize),
        references=references,
    )
