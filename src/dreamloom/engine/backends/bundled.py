"""The bundled model as an engine backend: recipes in, upscaled pictures out.

The model samples at about 1/8 of the recipe's size (32 px for a 256 px square), at the
nearest shape its grid allows, and Real-ESRGAN brings the result to the requested size.

References condition it through its image encoder: the generator was trained with the caption
sometimes reduced to its sentence vector alone, and the image encoder maps pictures into that
same sentence space, so a picture's embedding stands in for a caption. Each reference is one
more guided part beside the text parts, at its weight (`--iw 2`: twice a text part's pull);
codes (`--sref 123`, `--p` codes) are seeded vectors in that space (`engine.conditioning`).
The model has one conditioning vector and no layer that carries style apart from content, so
every kind acts through the same path; they differ in the picture (a `--cref` crop) and weight.

Seeds, chaos and weird use the engine's own noise helpers, so a recipe means the same here as
on the diffusers backend. Upscales super-resolve the picture; Upscale (Creative) first has the
model redraw it. Where Real-ESRGAN cannot load, Lanczos stands in and every result says so in
its notes.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from dreamloom.engine.backends.base import (
    BatchMember,
    Cancelled,
    CancelledFn,
    EngineResult,
    Progress,
    ProgressFn,
    run_each,
)
from dreamloom.engine.backends.inputs import source_picture
from dreamloom.engine.conditioning import (
    ALL_KINDS,
    EmbeddingStats,
    probe_pictures,
    reference_vectors,
)
from dreamloom.engine.grid import make_grid
from dreamloom.engine.noise import derive_seed, image_seeds, initial_latents, perturb
from dreamloom.engine.options import EngineOptions, apply_options
from dreamloom.engine.recipe import ModelInfo, PromptPart, Recipe
from dreamloom.engine.tiling import circular_padding

if TYPE_CHECKING:
    from dreamloom.bundled.pipeline import BundledModel

BUNDLED_NAME = "bundled"
SCALE = 8  # output pixels per model pixel
INFO = ModelInfo(
    name=BUNDLED_NAME,
    native_size=256,
    multiple=8,  # any size: sampled at the nearest grid shape, then enlarged to it
    default_steps=10,
    default_guidance=6.0,
    supports_negative=True,
    reference_kinds=ALL_KINDS,
)
# Share of fresh noise at each sampling step (see `sampling.Churn`); 0 is the plain flow.
CHURN = 0.0


def model_size(width: int, height: int) -> tuple[int, int]:
    """The size the model samples at for a (width, height) picture: 1/SCALE of its area, in
    multiples of the fold (4 px: one cell of the UNet's sample), at the ratio nearest the
    picture's. The UNet's single downsampling need not divide the folded sides: diffusers'
    UNet passes each skip connection's size to its upsampler."""
    from dreamloom.bundled.model import FOLD
    from dreamloom.prompt import aspect_size

    native = max(FOLD, round(math.sqrt(width * height) / SCALE))
    return aspect_size((width, height), native, multiple=FOLD)


class BundledBackend:
    info: ModelInfo = INFO

    def __init__(
        self, model: BundledModel, *, previews_per_run: int = 4, churn: float = CHURN
    ) -> None:
        if not 0.0 <= churn <= 1.0:
            raise ValueError("churn must be between 0 and 1")
        self.model = model
        self.previews_per_run = previews_per_run
        self.churn = churn
        self._stats: EmbeddingStats | None = None

    @classmethod
    def load(cls, folder: Path | None = None) -> BundledBackend:
        from dreamloom.bundled.pipeline import BundledModel

        return cls(BundledModel.load(folder))

    def batch_key(self, recipe: Recipe) -> Hashable | None:
        return None  # runs alone

    def run_batch(self, members: Sequence[BatchMember]) -> list[EngineResult | Cancelled]:
        return run_each(self, members)

    def run(
        self,
        recipe: Recipe,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> EngineResult:
        """The recipe's references (image prompts, `--sref`, `--cref`, `--oref`, `--p`) each
        condition the generation as a part beside the text parts."""
        return self._run(recipe, self._reference_parts(recipe), progress, cancelled)

    def run_with_images(
        self,
        recipe: Recipe,
        references: Sequence[tuple[Image.Image, float]],
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> EngineResult:
        """`run` with pictures given directly, each (picture, weight) a part beside the text
        parts (Blend, with no text at all), after the recipe's own references."""
        parts = self._reference_parts(recipe)
        if references:
            vectors = self.model.embed_images([image for image, _ in references])
            parts += [(v, w) for v, (_, w) in zip(vectors, references, strict=True)]
        return self._run(recipe, parts, progress, cancelled)

    def _reference_parts(self, recipe: Recipe) -> list[tuple[torch.Tensor, float]]:
        """(vector in the sentence space, weight) for each of the recipe's references."""
        if not recipe.references:
            return []
        vectors = reference_vectors(recipe.references, self.model.embed_images, self._codes)
        return [(v, r.weight) for v, r in zip(vectors, recipe.references, strict=True)]

    def _codes(self) -> EmbeddingStats:
        """The statistics codes are drawn with: of the image encoder's embeddings of a fixed
        set of pictures, computed once."""
        if self._stats is None:
            self._stats = EmbeddingStats.of(self.model.embed_images(probe_pictures()))
        return self._stats

    def _run(
        self,
        recipe: Recipe,
        references: Sequence[tuple[torch.Tensor, float]],
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> EngineResult:
        if cancelled is not None and cancelled():
            raise Cancelled(0)
        started = time.perf_counter()
        seeds = image_seeds(recipe.seed, recipe.batch)
        if recipe.operation == "upscale":
            images, notes = self._upscale(recipe, seeds, progress, cancelled, references)
            return EngineResult(images, seeds, time.perf_counter() - started, notes=notes)
        pictures = self._sample(recipe, seeds, progress, cancelled, references)
        from dreamloom.bundled.pipeline import to_image

        size = (recipe.width, recipe.height)
        images, notes = _enlarged([to_image(p) for p in pictures], size, recipe.tile)
        return EngineResult(images, seeds, time.perf_counter() - started, notes=notes)

    def _sample(
        self,
        recipe: Recipe,
        seeds: list[int],
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
        references: Sequence[tuple[torch.Tensor, float]] = (),
    ) -> torch.Tensor:
        from dreamloom.bundled.pipeline import to_image, to_tensor
        from dreamloom.bundled.sampling import Churn, Guide, Inpaint, sample

        width, height = model_size(recipe.width, recipe.height)
        noise = initial_latents(recipe.seed, seeds, (3, height, width), recipe.chaos)
        parts = [self._part(p, seeds, recipe.weird) for p in recipe.positive if p.text.strip()]
        for vector, weight in references:
            cond, mask = self.model.condition_from_vector(vector[None])
            parts.append((perturb(cond, seeds, recipe.weird), mask.expand(len(seeds), -1), weight))
        if not parts:  # an empty prompt still needs one conditioning
            parts = [self._part(PromptPart(""), seeds, recipe.weird)]
        guide = Guide(
            positive=parts,
            base=self._base(recipe.negative, len(seeds)),
            scale=recipe.guidance,
        )
        init, inpaint = None, None
        strength = 1.0
        if recipe.init_image is not None and recipe.operation != "imagine":
            picture = Image.open(io.BytesIO(recipe.init_image))
            init = to_tensor(picture, (width, height)).expand(len(seeds), -1, -1, -1)
            strength = 1.0 if recipe.strength is None else recipe.strength
            if recipe.mask is not None:
                # White in the mask marks what to repaint, as in diffusers' inpainting.
                mask = Image.open(io.BytesIO(recipe.mask)).convert("L")
                keep = 1.0 - (to_tensor(mask.convert("RGB"), (width, height))[:, :1] + 1) / 2
                inpaint = Inpaint(init, keep.expand(len(seeds), -1, -1, -1))
                strength = 1.0 if recipe.operation == "outpaint" else strength
        every = max(1, recipe.steps // max(1, self.previews_per_run))

        def on_step(step: int, total: int, clean: torch.Tensor) -> bool:
            if cancelled is not None and cancelled():
                raise Cancelled(step)
            if progress is not None:
                preview = None
                if step % every == 0 or step == total:
                    preview = make_grid([to_image(c).resize((64, 64)) for c in clean])
                progress(Progress(step, total, preview))
            return False

        churn = None
        if self.churn > 0.0:
            # One stream per picture, from its own seed: a picture's noise does not depend
            # on the others in its batch.
            generators = [torch.Generator().manual_seed(derive_seed(s, "churn")) for s in seeds]
            churn = Churn(self.churn, generators)
        torch.manual_seed(derive_seed(recipe.seed, "sampler"))
        with circular_padding([self.model.unet], recipe.tile):
            return sample(
                self.model.unet,
                noise,
                guide,
                recipe.steps,
                run_steps=recipe.steps_to_run(recipe.steps),
                init=init,
                strength=strength,
                inpaint=inpaint,
                on_step=on_step,
                churn=churn,
            )

    def _part(
        self, part: PromptPart, seeds: list[int], weird: float
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        cond, mask, _ = self.model.encode_text(part.text)
        return perturb(cond, seeds, weird), mask.expand(len(seeds), -1), part.weight

    def _base(
        self, negative: tuple[PromptPart, ...], batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The unconditional caption, or the weighted negative parts in its place (`--no`)."""
        if not negative:
            cond, mask, _ = self.model.encode_text("")
            return cond.expand(batch, -1, -1), mask.expand(batch, -1)
        encoded = [self.model.encode_text(p.text) for p in negative]
        total = sum(p.weight for p in negative)
        cond = sum(p.weight * e[0] for p, e in zip(negative, encoded, strict=True)) / total
        # A position is attended if any negative text has a token there.
        mask = torch.stack([e[1] for e in encoded]).amax(0)
        return cond.expand(batch, -1, -1), mask.expand(batch, -1)

    def _upscale(
        self,
        recipe: Recipe,
        seeds: list[int],
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
        references: Sequence[tuple[torch.Tensor, float]] = (),
    ) -> tuple[list[Image.Image], tuple[str, ...]]:
        """Upscale (Subtle), 2x and 4x: the picture super-resolved, nothing drawn. Upscale
        (Creative), a recipe with a strength: the model first redraws the picture at that
        strength (the parent's prompt, this job's seed) at the resolution the picture itself
        was sampled at, then the redrawn picture is super-resolved to the picture's size and
        on to the target. The redraw stays at the source's scale because the model draws only
        at the scale it was trained at: sampled at 1/8 of a 2x target (64 px for a 256 px
        picture) it draws repeating patterns, not pictures."""
        from dreamloom.bundled.pipeline import to_image

        source = source_picture(recipe)
        size = (recipe.width, recipe.height)
        if not recipe.strength:
            (big,), notes = _enlarged([source], size, recipe.tile)
            if progress is not None:
                progress(Progress(1, 1, None))
            return [big.copy() for _ in seeds], notes
        at_source = replace(recipe, width=source.width, height=source.height)
        pictures = self._sample(at_source, seeds, progress, cancelled, references)
        redrawn, first = _enlarged([to_image(p) for p in pictures], source.size, recipe.tile)
        images, second = _enlarged(redrawn, size, recipe.tile)
        return images, tuple(dict.fromkeys(first + second))


def _enlarged(
    pictures: Sequence[Image.Image], size: tuple[int, int], tile: bool
) -> tuple[list[Image.Image], tuple[str, ...]]:
    """`pictures` super-resolved to `size`, and the notes of any fallback (each said once)."""
    from dreamloom.bundled.upscale import upscale

    images: list[Image.Image] = []
    notes: dict[str, None] = {}
    for picture in pictures:
        image, note = upscale(picture, size, tile=tile)
        images.append(image)
        if note is not None:
            notes[note] = None
    return images, tuple(notes)


def load_bundled_backend(
    cache_dir: Path | None = None, device: str = "cpu", options: EngineOptions = EngineOptions()
) -> BundledBackend:
    """Hook for `engine.load_backend("bundled", ...)`: the weights ship inside the package, so
    `cache_dir` is not needed; the model runs on the CPU (it is small enough), whatever
    `device` says.

    The speed `options` act on its UNet (a diffusers UNet, like any other) as they would on a
    GPU model's, on the CPU: compile, channels-last, attention. It has no VAE (pixels come
    from Real-ESRGAN), so compile covers the UNet alone.
    """
    del cache_dir, device
    backend = BundledBackend.load()
    apply_options(options, backend.model.unet, None, device="cpu")
    return backend
