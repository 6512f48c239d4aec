"""A backend over any diffusers text-to-image pipeline (SD 1.x/2.x, SD-Turbo, SDXL, ...).

The pipeline's own `__call__` does the denoising; this module prepares what it is given
(latents for chaos, embeddings for `::` weights and weird), watches it step by step through
`callback_on_step_end` (progress, previews, `--stop`, cancellation) and switches the model's
convolutions to circular padding for `--tile`.

The picture operations run the same way on the loaded model's own image-to-image and
inpainting pipelines (`AutoPipelineFor*.from_pipe`: the same modules, no second copy of any
weight): variations are img2img; Vary (Region) and outpainting inpaint, then paste the
original back outside the mask; upscales are Real-ESRGAN, with an img2img refine for Creative.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import math
import time
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

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
from dreamloom.engine.backends.inputs import (
    init_picture,
    recipe_mask,
    source_picture,
    steps_for_strength,
)
from dreamloom.engine.backends.ip_adapter import ImageConditioner, has_adapter, load_adapter
from dreamloom.engine.conditioning import ALL_KINDS
from dreamloom.engine.masks import feather_radius, grow, keep_unselected
from dreamloom.engine.noise import derive_seed, image_seeds, initial_latents, perturb
from dreamloom.engine.options import EngineOptions, OptionError, apply_options
from dreamloom.engine.preview import preview_image
from dreamloom.engine.recipe import ModelInfo, PromptPart, Recipe
from dreamloom.engine.tiling import circular_padding
from dreamloom.engine.upscale import Upscaler, default_upscaler, enlarge

_Derived = Literal["img2img", "inpaint"]

log = logging.getLogger(__name__)


@dataclass
class _Conditioning:
    """Text conditioning for one image, before it is repeated over the batch: (1, ...) tensors.

    `pooled` is only set for pipelines with a pooled text embedding (SDXL)."""

    embeds: Any
    negative: Any
    pooled: Any = None
    negative_pooled: Any = None


class _DenoisedTap:
    """Records the scheduler's estimate of the clean latents (x0) at every step.

    The pipeline keeps only the noisy latents; `--stop` must decode the x0 estimate instead
    (noisy latents decode to noise, the estimate to the softer picture Midjourney's `--stop`
    shows) and previews of it are readable from the first step. Most schedulers (Euler, DDIM,
    LCM, ...) return it as the second element of `step`'s output; where one does not, the tap
    stays empty and callers fall back to the current latents.
    """

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.latest: Any = None

    @contextmanager
    def attached(self) -> Iterator[_DenoisedTap]:
        original = self.scheduler.step

        def step(*args: Any, **kwargs: Any) -> Any:
            output = original(*args, **kwargs)
            estimate = getattr(output, "pred_original_sample", None)
            if estimate is None and isinstance(output, tuple) and len(output) > 1:
                estimate = output[1]
            self.latest = estimate if isinstance(estimate, torch.Tensor) else None
            return output

        # An instance attribute shadows the class's method for this run only.
        self.scheduler.step = step
        try:
            yield self
        finally:
            del self.scheduler.step


@dataclass(frozen=True)
class _Watched:
    """One job's share of a run: its images (a slice of the batch) and its callbacks."""

    images: slice
    progress: ProgressFn | None
    cancelled: CancelledFn | None


class _StepWatcher:
    """The `callback_on_step_end` of one run, for each job in it (one, or a batch's)."""

    def __init__(
        self,
        recipe: Recipe,
        tap: _DenoisedTap,
        jobs: list[_Watched],
        previews_per_run: int,
    ) -> None:
        self.recipe = recipe  # the settings every job of the run shares (steps, --stop)
        self.tap = tap
        self.jobs = jobs
        self.previews_per_run = previews_per_run
        # The step at which each job was cancelled; the run goes on while one is left.
        self.stopped: list[int | None] = [None] * len(jobs)

    def __call__(self, pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> Any:
        # The scheduler may schedule more model calls than steps (Heun: 2 per step); the
        # pipeline knows how many it will make once its timesteps are set.
        scheduled = int(getattr(pipe, "num_timesteps", None) or self.recipe.steps)
        stop_at = self.recipe.steps_to_run(scheduled)
        step = index + 1
        for i, job in enumerate(self.jobs):
            if self.stopped[i] is None and job.cancelled is not None and job.cancelled():
                self.stopped[i] = step
        if all(stopped is not None for stopped in self.stopped):
            raise Cancelled(step)
        estimate = self.tap.latest if self.tap.latest is not None else tensors.get("latents")
        result: dict[str, Any] = {}
        if step >= stop_at and step < scheduled:
            # Diffusers' documented way to end a run early: the remaining iterations are
            # skipped and the latents handed back here are decoded.
            pipe._interrupt = True
            if self.tap.latest is not None:
                result["latents"] = self.tap.latest
        for job, stopped in zip(self.jobs, self.stopped, strict=True):
            if job.progress is not None and stopped is None:
                preview = self._preview(step, stop_at, estimate, job.images)
                job.progress(Progress(step, stop_at, preview))
        return result

    def _preview(self, step: int, total: int, latents: Any, images: slice) -> Image.Image | None:
        if self.previews_per_run <= 0 or latents is None or latents.ndim != 4:
            return None
        interval = max(1, -(-total // self.previews_per_run))
        return preview_image(latents[images]) if step % interval == 0 else None


class DiffusersBackend:
    """One loaded pipeline. A run switches padding modes and watches the scheduler, so runs on
    one backend must not overlap: a worker process runs one job at a time."""

    def __init__(
        self,
        pipeline: Any,
        info: ModelInfo,
        *,
        previews_per_run: int = 4,
        upscaler: Upscaler | None = None,
    ) -> None:
        call = inspect.signature(pipeline.__call__).parameters
        if "callback_on_step_end" not in call:
            raise TypeError(f"{type(pipeline).__name__} has no step callback; unsupported")
        self.pipeline = pipeline
        self.info = info
        self.previews_per_run = previews_per_run
        self._upscaler = upscaler
        self._derived: dict[_Derived, Any] = {}
        encode = getattr(pipeline, "encode_prompt", None)
        # Weighted `::` parts and weird need embeddings; pipelines whose encode_prompt speaks
        # the SD/SDXL dialect get them, others (FLUX, ...) are given plain text.
        self._embeds = (
            "prompt_embeds" in call
            and encode is not None
            and "do_classifier_free_guidance" in inspect.signature(encode).parameters
        )
        self._has_negative = "negative_prompt" in call
        self._unet: Any = getattr(pipeline, "unet", None)
        # Image references need an IP-Adapter (`backends.ip_adapter`); the model says so.
        self._images = ImageConditioner(pipeline) if has_adapter(pipeline) else None
        kinds = ALL_KINDS if self._images is not None else frozenset()
        self.info = replace(info, reference_kinds=kinds)
        pipeline.set_progress_bar_config(disable=True)

    @classmethod
    def from_pretrained(
        cls,
        ref_or_path: str | Path,
        *,
        info: ModelInfo,
        cache_dir: Path | None = None,
        device: str = "cpu",
        options: EngineOptions = EngineOptions(),
        ip_adapter: str | None = None,
    ) -> DiffusersBackend:
        """Load a pipeline (float16 on CUDA) and apply the speed `options` to its denoiser and
        VAE; the img2img and inpainting pipelines made from it later share those modules, so
        they run compiled, channels-last or with the chosen attention too. `ip_adapter` names
        the IP-Adapter that conditions it on image references (`backends.ip_adapter`); without
        one the model takes no image references."""
        from diffusers import DiffusionPipeline
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # Loading bars and advice about optional packages would interleave with the service's
        # own progress output; real problems still surface as exceptions.
        for library in (diffusers_logging, transformers_logging):
            library.set_verbosity_error()
            library.disable_progress_bar()
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        extra: dict[str, Any] = {}
        index = DiffusionPipeline.load_config(str(ref_or_path), cache_dir=cache_dir)
        if "safety_checker" in index:
            # Moderation is the engine's own step, run on every output; SD 1.x's checker would
            # cost a CLIP model's memory and black out images behind the service's back.
            extra = {"safety_checker": None, "requires_safety_checker": False}
        extra[_dtype_keyword()] = dtype
        pipeline = DiffusionPipeline.from_pretrained(
            str(ref_or_path), cache_dir=cache_dir, **extra
        ).to(device)
        if ip_adapter is not None:
            # Before the speed options: the adapter replaces attention processors.
            load_adapter(pipeline, ip_adapter, cache_dir)
        apply_pipeline_options(pipeline, options, device)
        return cls(pipeline, info_from_pipeline(pipeline, info))

    @property
    def upscaler(self) -> Upscaler:
        """The process's upscaler unless one was given; loaded on the first upscale."""
        if self._upscaler is None:
            self._upscaler = default_upscaler()
        return self._upscaler

    def batch_key(self, recipe: Recipe) -> Hashable | None:
        """Imagine recipes batch on pipelines that take embeddings and latents (SD, SDXL):
        each job's prompts, negative prompts, chaos and weird travel as its own rows of those,
        so what must match is what the pipeline applies to the whole batch."""
        if recipe.operation != "imagine" or not self._embeds or self._unet is None:
            return None
        if recipe.references:
            # The adapters' scales are set on the UNet for the whole call, and diffusers
            # repeats one image embedding over the batch: such a recipe runs alone.
            return None
        return (
            recipe.operation,
            recipe.width,
            recipe.height,
            recipe.steps,
            recipe.guidance,
            recipe.tile,
            recipe.steps_to_run(recipe.steps),
        )

    def run_batch(self, members: Sequence[BatchMember]) -> list[EngineResult | Cancelled]:
        keys = {self.batch_key(member.recipe) for member in members}
        if len(members) == 1 or len(keys) != 1 or None in keys:
            return run_each(self, members)
        started = time.perf_counter()
        lead = members[0].recipe
        seeds = [image_seeds(m.recipe.seed, m.recipe.batch) for m in members]
        bounds = list(itertools.accumulate((len(s) for s in seeds), initial=0))
        jobs = [
            _Watched(slice(start, end), member.progress, member.cancelled)
            for member, start, end in zip(members, bounds, bounds[1:], strict=False)
        ]
        rows = [
            {
                **self._conditioning_kwargs(member.recipe, member_seeds),
                **self._latents_kwargs(member.recipe, member_seeds),
            }
            for member, member_seeds in zip(members, seeds, strict=True)
        ]
        try:
            images, stopped_at = self._denoise(
                self.pipeline,
                lead,
                [seed for member_seeds in seeds for seed in member_seeds],
                jobs,
                width=lead.width,
                height=lead.height,
                num_inference_steps=lead.steps,
                **{key: torch.cat([row[key] for row in rows]) for key in rows[0]},
            )
        except Cancelled as exc:  # every job of the batch was cancelled
            share = (time.perf_counter() - started) / len(members)
            return [Cancelled(exc.step, share) for _ in members]
        elapsed = time.perf_counter() - started
        total = bounds[-1]
        results: list[EngineResult | Cancelled] = []
        for job, member_seeds, stopped in zip(jobs, seeds, stopped_at, strict=True):
            share = elapsed * len(member_seeds) / total  # charged by images
            if stopped is not None:
                results.append(Cancelled(stopped, share))
            else:
                results.append(EngineResult(images[job.images], member_seeds, share))
        return results

    def run(
        self,
        recipe: Recipe,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> EngineResult:
        if cancelled is not None and cancelled():
            raise Cancelled(0)
        started = time.perf_counter()
        seeds = image_seeds(recipe.seed, recipe.batch)
        notes: tuple[str, ...] = ()
        if recipe.operation == "imagine":
            images = self._denoise_one(
                self.pipeline,
                recipe,
                seeds,
                progress,
                cancelled,
                width=recipe.width,
                height=recipe.height,
                num_inference_steps=recipe.steps,
                **self._latents_kwargs(recipe, seeds),
            )
        elif recipe.operation == "img2img":
            images = self._img2img(recipe, init_picture(recipe), seeds, progress, cancelled)
        elif recipe.operation in ("inpaint", "outpaint"):
            images = self._inpaint(recipe, seeds, progress, cancelled)
        elif recipe.operation == "upscale":
            images, notes = self._upscale(recipe, seeds, progress, cancelled)
        else:  # pragma: no cover - Recipe validates its operation
            raise ValueError(f"unknown operation {recipe.operation!r}")
        return EngineResult(images, seeds, time.perf_counter() - started, notes=notes)

    def _denoise(
        self,
        pipe: Any,
        recipe: Recipe,
        seeds: list[int],
        jobs: list[_Watched],
        **inputs: Any,
    ) -> tuple[list[Image.Image], list[int | None]]:
        """One call of `pipe` on the batch: per-image generators, the step watcher and tiling
        are the same for every operation; `inputs` are the operation's, conditioning
        included (`_conditioning_kwargs`). Returns the images and, per job, the step where
        it was cancelled (None: it ran to the end)."""
        if self._images is not None:
            # With the adapter loaded the UNet needs image embeddings in every call (zeros at
            # scale 0 when the recipe has no references); in a batch no member has any.
            inputs.update(self._images.inputs(recipe, self._guided(recipe)))
        elif recipe.references:
            kinds = ", ".join(sorted({r.kind.value for r in recipe.references}))
            raise ValueError(
                f"model {self.info.name} takes no image references ({kinds}): "
                "it has no IP-Adapter configured"
            )
        tap = _DenoisedTap(pipe.scheduler)
        watcher = _StepWatcher(recipe, tap, jobs, self.previews_per_run)
        with (
            torch.no_grad(),
            circular_padding(self._convolution_modules(), recipe.tile),
            tap.attached(),
        ):
            output = pipe(
                guidance_scale=recipe.guidance,
                generator=[
                    torch.Generator("cpu").manual_seed(derive_seed(s, "sampler")) for s in seeds
                ],
                callback_on_step_end=watcher,
                output_type="pil",
                **inputs,
            )
        return [image.convert("RGB") for image in output.images], watcher.stopped

    def _denoise_one(
        self,
        pipe: Any,
        recipe: Recipe,
        seeds: list[int],
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
        **inputs: Any,
    ) -> list[Image.Image]:
        """`_denoise` of one job, its conditioning made here."""
        job = _Watched(slice(None), progress, cancelled)
        inputs.update(self._conditioning_kwargs(recipe, seeds))
        images, _ = self._denoise(pipe, recipe, seeds, [job], **inputs)
        return images

    def _img2img(
        self,
        recipe: Recipe,
        picture: Image.Image,
        seeds: list[int],
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> list[Image.Image]:
        strength = 1.0 if recipe.strength is None else recipe.strength
        pipe = self._derived_pipeline("img2img")
        inputs: dict[str, Any] = {
            "image": picture,
            "strength": strength,
            "num_inference_steps": steps_for_strength(recipe.steps, strength),
        }
        inputs.update(_size_kwargs(pipe, picture))
        return self._denoise_one(pipe, recipe, seeds, progress, cancelled, **inputs)

    def _inpaint(
        self,
        recipe: Recipe,
        seeds: list[int],
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> list[Image.Image]:
        picture, mask = init_picture(recipe), recipe_mask(recipe)
        strength = 1.0 if recipe.strength is None else recipe.strength
        factor = int(self.pipeline.vae_scale_factor)
        inputs: dict[str, Any] = {
            "image": picture,
            # The pipeline samples the mask down to latent cells at one pixel per cell; grown
            # by a cell less a pixel, every cell the user's mask touches is repainted. The
            # paste-back below uses the user's own mask, so the growth never shows.
            "mask_image": grow(mask, factor - 1),
            "strength": strength,
            "num_inference_steps": steps_for_strength(recipe.steps, strength),
        }
        if strength >= 1.0:
            # From pure noise the pipeline takes given latents as that noise: chaos then
            # means the same as in imagine. Below 1 it would ignore the picture, so not then.
            inputs.update(self._latents_kwargs(recipe, seeds, inpainting=True))
        pipe = self._derived_pipeline("inpaint")
        inputs.update(_size_kwargs(pipe, picture))
        images = self._denoise_one(pipe, recipe, seeds, progress, cancelled, **inputs)
        radius = feather_radius(picture.size)
        return [keep_unselected(picture, image, mask, radius) for image in images]

    def _upscale(
        self,
        recipe: Recipe,
        seeds: list[int],
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> tuple[list[Image.Image], tuple[str, ...]]:
        """The pictures, and the upscaler's note when it stood in for Real-ESRGAN."""
        size = (recipe.width, recipe.height)
        upscaler = self.upscaler
        notes = () if upscaler.note is None else (upscaler.note,)
        big = enlarge(upscaler, source_picture(recipe), size, tile=recipe.tile)
        if not recipe.strength:  # Subtle, 2x, 4x: the super-resolution is the result
            if progress is not None:
                progress(Progress(1, 1, None))
            return [big.copy() for _ in seeds], notes
        if cancelled is not None and cancelled():
            raise Cancelled(0)
        return self._img2img(recipe, big, seeds, progress, cancelled), notes

    def _derived_pipeline(self, kind: _Derived) -> Any:
        """The loaded model's img2img or inpainting pipeline, made once: `from_pipe` shares
        every module, so it costs no memory; a 4-channel UNet inpaints by blending the
        picture's latents back outside the mask at every step, an inpainting UNet natively."""
        if kind not in self._derived:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            auto = AutoPipelineForImage2Image if kind == "img2img" else AutoPipelineForInpainting
            try:
                pipe = auto.from_pipe(self.pipeline)
            except ValueError as exc:
                name = type(self.pipeline).__name__
                raise NotImplementedError(f"{name} has no {kind} counterpart") from exc
            pipe.set_progress_bar_config(disable=True)
            self._derived[kind] = pipe
        return self._derived[kind]

    def _convolution_modules(self) -> list[torch.nn.Module]:
        names = ("unet", "transformer", "vae")
        found = (getattr(self.pipeline, name, None) for name in names)
        return [module for module in found if isinstance(module, torch.nn.Module)]

    def _latents_kwargs(
        self, recipe: Recipe, seeds: list[int], *, inpainting: bool = False
    ) -> dict[str, Any]:
        unet = self._unet
        if unet is None:
            # Packed-latent transformers (FLUX, ...) lay latents out differently: they get
            # per-image generators only, and chaos has no effect there yet.
            return {}
        factor = int(self.pipeline.vae_scale_factor)
        # An inpainting UNet reads mask and picture as extra input channels; the noise it
        # denoises has the VAE's channels only.
        channels = int(
            self.pipeline.vae.config.latent_channels if inpainting else unet.config.in_channels
        )
        shape = (channels, recipe.height // factor, recipe.width // factor)
        latents = initial_latents(recipe.seed, seeds, shape, recipe.chaos)
        return {"latents": latents.to(device=self.pipeline.device, dtype=unet.dtype)}

    def _conditioning_kwargs(self, recipe: Recipe, seeds: list[int]) -> dict[str, Any]:
        batch = len(seeds)
        if not self._embeds:
            kwargs: dict[str, Any] = {"prompt": [_joined(recipe.positive)] * batch}
            if recipe.negative and self._has_negative:
                kwargs["negative_prompt"] = [_joined(recipe.negative)] * batch
            return kwargs
        cond = self._encode(recipe)
        kwargs = {
            "prompt_embeds": perturb(cond.embeds, seeds, recipe.weird),
            "negative_prompt_embeds": _repeat(cond.negative, batch),
        }
        if cond.pooled is not None:
            kwargs["pooled_prompt_embeds"] = perturb(cond.pooled, seeds, recipe.weird, "pooled")
            kwargs["negative_pooled_prompt_embeds"] = _repeat(cond.negative_pooled, batch)
        return kwargs

    def _encode(self, recipe: Recipe) -> _Conditioning:
        """Each `::` part encoded on its own, then averaged by weight: positive parts into the
        conditioning, negative parts (and `--no`) into the negative conditioning. Without
        negative parts the model's own unconditional embedding is kept (SDXL uses zeros, SD
        the empty prompt)."""
        positive = self._encode_texts(recipe.positive, with_unconditional=True)
        cond = _Conditioning(
            embeds=_weighted(positive[0], recipe.positive),
            negative=positive[1][:1],
            pooled=None if positive[2] is None else _weighted(positive[2], recipe.positive),
            negative_pooled=None if positive[3] is None else positive[3][:1],
        )
        if recipe.negative:
            negative = self._encode_texts(recipe.negative, with_unconditional=False)
            cond = replace(
                cond,
                negative=_weighted(negative[0], recipe.negative),
                negative_pooled=None
                if negative[2] is None
                else _weighted(negative[2], recipe.negative),
            )
        if not self._guided(recipe):
            unconditional = _Conditioning(
                embeds=positive[1][:1], negative=None, pooled=_first(positive[3])
            )
            cond = _guidance_free(cond, unconditional, recipe)
        return cond

    def _guided(self, recipe: Recipe) -> bool:
        """Whether the pipeline runs classifier-free guidance for `recipe` (diffusers' own
        rule: guidance above 1, and no guidance-distilled UNet that takes it as an input)."""
        unet = self._unet
        distilled = unet is not None and unet.config.time_cond_proj_dim is not None
        return recipe.guidance > 1.0 and not distilled

    def _encode_texts(
        self, parts: tuple[PromptPart, ...], *, with_unconditional: bool
    ) -> tuple[Any, Any, Any, Any]:
        output = self.pipeline.encode_prompt(
            prompt=[part.text for part in parts],
            device=self.pipeline.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=with_unconditional,
        )
        if len(output) == 2:  # SD 1.x/2.x: (embeds, negative)
            return output[0], output[1], None, None
        if len(output) == 4:  # SDXL: (embeds, negative, pooled, negative pooled)
            return output[0], output[1], output[2], output[3]
        raise TypeError(f"unexpected encode_prompt output of {len(output)} items")


def apply_pipeline_options(pipeline: Any, options: EngineOptions, device: str) -> None:
    """`engine.options.apply_options` on a pipeline's denoiser (UNet, or the transformer of
    FLUX, SD3, ...) and VAE. The text encoders are left alone: they run once per job."""
    if options.is_default:
        return
    denoiser = getattr(pipeline, "unet", None)
    if denoiser is None:
        denoiser = getattr(pipeline, "transformer", None)
    if not isinstance(denoiser, torch.nn.Module):
        raise OptionError(f"{type(pipeline).__name__} has no UNet or transformer to speed up")
    vae = getattr(pipeline, "vae", None)
    apply_options(
        options, denoiser, vae if isinstance(vae, torch.nn.Module) else None, device=device
    )
    log.info("%s on %s: %s", type(pipeline).__name__, device, options.describe())


def info_from_pipeline(pipeline: Any, defaults: ModelInfo) -> ModelInfo:
    """The facts a loaded pipeline states about itself win over guesses by name."""
    unet = getattr(pipeline, "unet", None)
    factor = int(getattr(pipeline, "vae_scale_factor", defaults.multiple))
    if unet is None and getattr(pipeline, "transformer", None) is not None:
        factor *= 2  # FLUX, SD3: latents packed in 2x2 patches
    native = defaults.native_size
    if unet is not None and unet.config.sample_size is not None:
        sample = unet.config.sample_size
        native = factor * int(sample if isinstance(sample, int) else max(sample))
    return replace(defaults, native_size=native, multiple=factor)


def _size_kwargs(pipe: Any, picture: Image.Image) -> dict[str, int]:
    """Width and height for pipelines that take them (inpainting, FLUX); SD and SDXL img2img
    read the size from the picture."""
    call = inspect.signature(pipe.__call__).parameters
    size = {"width": picture.width, "height": picture.height}
    return {key: value for key, value in size.items() if key in call}


def _dtype_keyword() -> str:
    """diffusers renamed `torch_dtype` to `dtype` (the old name warns, and goes in 1.0); the
    helper that resolves the two arrived with the rename."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _weighted(tensors: Any, parts: tuple[PromptPart, ...]) -> Any:
    """(n, ...) embeddings of n parts -> (1, ...) weighted mean."""
    weights = torch.tensor([part.weight for part in parts], dtype=tensors.dtype)
    weights = (weights / weights.sum()).to(tensors.device)
    return (weights.view(-1, *([1] * (tensors.ndim - 1))) * tensors).sum(0, keepdim=True)


def _guidance_free(
    cond: _Conditioning, unconditional: _Conditioning, recipe: Recipe
) -> _Conditioning:
    """`--stylize` and the negative parts on a pipeline that runs without classifier-free
    guidance (SD-Turbo, SDXL-Turbo), where the negative embedding is never used and guidance
    cannot be raised. What guidance does to predictions is done to the embeddings instead:

        embeds = u + s * (c - u) - w * (n - u)

    with u the unconditional embedding, c the prompt's, n the weighted negative parts' and w
    their total weight (`--no x` is `x::-.5`, so 0.5): the conditioning is extrapolated away
    from the unconditional one by the recipe's `conditioning_scale` s (from `--stylize`) and
    pushed away from what the negative text adds to it. The pooled embedding (SDXL) alike."""
    scale = recipe.conditioning_scale
    push = math.fsum(part.weight for part in recipe.negative)
    if scale == 1.0 and not push:
        return cond  # exactly as encoded (u + 1 * (c - u) need not round back to c)

    def moved(c: Any, n: Any, u: Any) -> Any:
        out = u + scale * (c - u)
        return out - push * (n - u) if push else out

    embeds = moved(cond.embeds, cond.negative, unconditional.embeds)
    pooled = cond.pooled
    if pooled is not None and unconditional.pooled is not None:
        pooled = moved(pooled, cond.negative_pooled, unconditional.pooled)
    return replace(cond, embeds=embeds, pooled=pooled)


def _first(tensor: Any) -> Any:
    return None if tensor is None else tensor[:1]


def _repeat(tensor: Any, count: int) -> Any:
    return tensor.expand(count, *tensor.shape[1:]).contiguous()


def _joined(parts: tuple[PromptPart, ...]) -> str:
    return ", ".join(part.text for part in parts if part.text.strip())
