"""A simulated GPU: a benchmarking aid, not a model. Its pictures are textured noise.

``simulated-gpu:MS`` (e.g. ``simulated-gpu:400``) names a backend whose compute is a wait that
holds no lock, as a CUDA call does: the GPU works while the worker's other threads (and the
interpreter lock) stay free for the CPU work around it. It lets ``bench/bench_imagine.py
--simulated-gpu-ms MS`` measure what dreamloom's own machinery (queue, scheduler, worker,
moderation, PNG encoding, grid, files, database rows) costs against a fast GPU, on a machine
without one, with everything real but the model.

The shape of the wait is the one measured on an NVIDIA H200 with the SD-Turbo-sized pipeline
(512x512, one step): a batch of ``n`` images takes ``MS * (0.5 + n / 8)`` per denoising step, so
a grid of 4 takes MS and one call of 16 images 2.5 MS (1.6x the images per second). The model
states SD-Turbo's facts: 512 px, one step, no classifier-free guidance (so no negative prompt).

The pictures are "photo-like": noise with a photograph's 1/f-like spectrum and a little fine
grain, so that PNG encoding, moderation and the grid cost what they cost on real pictures (a
512x512 PNG of one weighs about 400 KB, like a photograph's; flat or smooth pictures would
make the CPU work look cheaper than it is). A small pool of them is made when the backend
loads (CPU time outside any job); each image is then a cheap, deterministic view of one of
them chosen by its seed (a flip, a rotation and a wrap-around shift), so a seed always gives the
same image and different seeds different images.

Every operation works, so that every button does on this model: variations blend the picture
with new texture, region edits and outpainting paint texture inside the mask and keep the
picture outside it, upscales resize (Creative adds a little texture). Those run alone, one
wait of MS each.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
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
from dreamloom.engine.backends.inputs import init_picture, recipe_mask, source_picture
from dreamloom.engine.grid import make_grid
from dreamloom.engine.recipe import LATENT_MULTIPLE, ModelInfo, Recipe

SIMULATED_PREFIX = "simulated-gpu:"
NATIVE_SIZE = 512
# The wait is taken in slices this long, so that a cancellation is noticed within one.
WAIT_SLICE_S = 0.01
# Progress pictures per run, as the diffusers backend sends them.
PREVIEWS_PER_RUN = 4
# A preview shows the images at 1/8 of their side, as a latent preview does.
PREVIEW_STRIDE = 8
# The pool: enough distinct textures that the four images of a grid rarely share one, few enough
# that making them at load stays around a second on a small CPU.
POOL_SIZE = 8
POOL_SIDE = NATIVE_SIZE
POOL_SEED = 20240517
# The spectrum: amplitude ~ 1/f^SLOPE, and fine grain of this standard deviation (grey levels).
# Chosen against real photographs (sklearn's sample photos, 512x512 crops: 290-440 KB as PNG at
# Pillow's default level, neighbouring pixels differing by 6-28 levels): this gives ~410 KB and
# ~5 levels. A steeper slope makes smoother, smaller files; white noise would weigh ~750 KB.
SLOPE = 1.6
GRAIN = 2.0
CONTRAST = 45.0  # standard deviation of the picture, grey levels around mid-grey

Pixels = npt.NDArray[np.uint8]


def image_seeds(seed: int, count: int) -> list[int]:
    """The engine's per-image seeds (``noise.image_seeds``), imported when used: that module
    loads torch, and naming this model (``model_info``, in every web process) must not."""
    from dreamloom.engine.noise import image_seeds as engine_image_seeds

    return engine_image_seeds(seed, count)


def is_simulated(ref: str) -> bool:
    return ref.startswith(SIMULATED_PREFIX)


def batch_ms(ref: str) -> float:
    """The MS of ``simulated-gpu:MS``: milliseconds per batch of 4 images and step (>= 0)."""
    text = ref.removeprefix(SIMULATED_PREFIX)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"model {ref!r}: expected {SIMULATED_PREFIX}MS with MS the milliseconds a batch "
            "of 4 images takes, e.g. simulated-gpu:400"
        )
    return value


def simulated_info(ref: str) -> ModelInfo:
    """The facts of ``simulated-gpu:MS``: SD-Turbo's (512 px, one step, guidance 0, hence no
    negative prompt)."""
    batch_ms(ref)  # a malformed reference is refused before any job is queued
    return ModelInfo(
        name=ref,
        native_size=NATIVE_SIZE,
        multiple=LATENT_MULTIPLE,
        default_steps=1,
        default_guidance=0.0,
        supports_negative=False,
    )


def batch_seconds(ms: float, images: int, steps: int = 1) -> float:
    """How long the simulated GPU takes for ``steps`` denoising steps of ``images`` images:
    the H200's measured shape, MS for 4 images and MS * (0.5 + n/8) for n."""
    return ms / 1000.0 * (0.5 + images / 8.0) * steps


@cache
def photo_pool(count: int = POOL_SIZE, side: int = POOL_SIDE) -> tuple[Pixels, ...]:
    """``count`` photo-like RGB textures of ``side`` x ``side``, the same in every process.

    Each is made by an inverse FFT, so it is periodic: any wrap-around shift or tiling of it
    is seamless. Luminance and two colour-difference fields are drawn separately, as in a
    photograph, where colours are strongly correlated and most of the detail is in the
    brightness. Kept per process (read-only arrays): tests load several backends.
    """
    rng = np.random.default_rng(POOL_SEED)
    fy = np.fft.fftfreq(side)[:, None]
    fx = np.fft.rfftfreq(side)[None, :]
    frequency = np.hypot(fx, fy)
    frequency[0, 0] = 1.0
    amplitude = frequency**-SLOPE
    amplitude[0, 0] = 0.0  # no DC term: the mean is set below
    pool: list[Pixels] = []
    for _ in range(count):
        fields = []
        for _channel in range(3):
            phases = rng.standard_normal(amplitude.shape) + 1j * rng.standard_normal(
                amplitude.shape
            )
            fields.append(np.fft.irfft2(phases * amplitude, s=(side, side)))
        luma, warm, green = fields
        rgb = np.stack(
            [luma + 0.35 * warm, luma - 0.1 * warm + 0.2 * green, luma - 0.35 * green], -1
        )
        rgb = (rgb - rgb.mean()) / rgb.std()
        tint = rng.uniform(-20, 20, size=3)  # each picture its own colour cast
        rgb = 128 + tint + CONTRAST * rgb + GRAIN * rng.standard_normal(rgb.shape)
        pixels = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        pixels.flags.writeable = False
        pool.append(pixels)
    return tuple(pool)


@dataclass(frozen=True)
class _View:
    """Which texture an image seed shows, and how: pool index, dihedral turn, shift."""

    index: int
    rotations: int
    flip: bool
    dy: int
    dx: int

    @classmethod
    def of(cls, seed: int, pool_size: int, side: int) -> _View:
        digest = hashlib.sha256(f"simulated-gpu:{seed}".encode()).digest()
        value = int.from_bytes(digest[:16], "big")
        value, index = divmod(value, pool_size)
        value, rotations = divmod(value, 4)
        value, flip = divmod(value, 2)
        value, dy = divmod(value, side)
        dx = value % side
        return cls(index, rotations, bool(flip), dy, dx)


def photo_pixels(seed: int, width: int, height: int, stride: int = 1) -> Pixels:
    """The photo-like picture of image seed ``seed`` at ``width`` x ``height`` (every
    ``stride``-th pixel of it: a preview costs next to nothing). A few milliseconds: views and
    two gathers, no arithmetic on the pixels."""
    pool = photo_pool()
    side = pool[0].shape[0]
    view = _View.of(seed, len(pool), side)
    if width <= side and height <= side:
        # A window of the texture tiled 2x2: one strided copy (under a millisecond), where
        # wrapping indices around would gather every pixel (several).
        texture = np.rot90(_tiled(view.index), view.rotations)
        if view.flip:
            texture = texture[:, ::-1]
        window = texture[view.dy : view.dy + height : stride, view.dx : view.dx + width : stride]
        return np.ascontiguousarray(window)
    texture = np.rot90(pool[view.index], view.rotations)
    if view.flip:
        texture = texture[:, ::-1]
    rows = (np.arange(0, height, stride) + view.dy) % side
    columns = (np.arange(0, width, stride) + view.dx) % side
    return np.ascontiguousarray(texture[rows][:, columns])


@cache
def _tiled(index: int) -> Pixels:
    """Texture ``index`` of the pool tiled 2x2 (seamless: the textures are periodic)."""
    return np.tile(photo_pool()[index], (2, 2, 1))


def photo_image(seed: int, width: int, height: int) -> Image.Image:
    return Image.fromarray(photo_pixels(seed, width, height), "RGB")


@dataclass
class _Member:
    """One member's state inside ``run_batch``."""

    member: BatchMember
    seeds: list[int]
    outcome: Cancelled | None = None
    seconds: float = 0.0  # its share of the waits so far, by images

    @property
    def images(self) -> int:
        return len(self.seeds)

    def is_cancelled(self) -> bool:
        return self.member.cancelled is not None and self.member.cancelled()


class SimulatedGpuBackend:
    """The backend of ``simulated-gpu:MS`` (see the module's docstring). Holds no mutable state
    during a run: batches may run on one thread while others encode the last one's images."""

    def __init__(self, ms: float, *, name: str | None = None) -> None:
        if not math.isfinite(ms) or ms < 0:
            raise ValueError("the simulated GPU's milliseconds must be >= 0")
        self.ms = ms
        self.info = simulated_info(name or f"{SIMULATED_PREFIX}{ms:g}")
        # Made now, at load: the pool costs CPU that no job's compute time may include.
        for index in range(len(photo_pool())):
            _tiled(index)

    @classmethod
    def from_ref(cls, ref: str) -> SimulatedGpuBackend:
        return cls(batch_ms(ref), name=ref)

    def batch_key(self, recipe: Recipe) -> Hashable | None:
        """Imagine recipes of one size, step count, guidance and tiling batch together, as on a
        real pipeline (one latent shape, one schedule); other operations run alone."""
        if recipe.operation != "imagine":
            return None
        run_steps = recipe.steps_to_run(recipe.steps)
        return (
            "imagine",
            recipe.width,
            recipe.height,
            recipe.steps,
            run_steps,
            recipe.guidance,
            recipe.tile,
        )

    def run(
        self,
        recipe: Recipe,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> EngineResult:
        if recipe.operation == "imagine":
            (result,) = self.run_batch([BatchMember(recipe, progress, cancelled)])
            if isinstance(result, Cancelled):
                raise result
            return result
        return self._run_picture_operation(recipe, progress, cancelled)

    def run_batch(self, members: Sequence[BatchMember]) -> list[EngineResult | Cancelled]:
        """One wait for the whole batch, step by step: each step lasts what the images still
        running take (a member cancelled between steps leaves the batch, as its latents would),
        its time shared among them by images."""
        keys = {self.batch_key(m.recipe) for m in members}
        if len(keys) != 1 or None in keys:
            # Not one batch (a picture operation, or mixed keys): each alone, as it would be.
            return run_each(self, members)
        recipe = members[0].recipe
        total = recipe.steps_to_run(recipe.steps)
        states = [_Member(m, image_seeds(m.recipe.seed, m.recipe.batch)) for m in members]
        self._cancel_marked(states, step=0)
        every = max(1, -(-total // PREVIEWS_PER_RUN))
        for step in range(1, total + 1):
            running = [s for s in states if s.outcome is None]
            if not running:
                break
            images = sum(s.images for s in running)
            started = time.perf_counter()
            self._wait(batch_seconds(self.ms, images), running)
            elapsed = time.perf_counter() - started
            for state in running:
                state.seconds += elapsed * state.images / images
            # A member cancelled during the step gets Cancelled once the step is over (its
            # images were being computed with the others'), not a finished result.
            self._cancel_marked(running, step=step - 1)
            for state in running:
                if state.outcome is None and state.member.progress is not None:
                    preview = self._preview(state, step, total, every)
                    state.member.progress(Progress(step, total, preview))
        results: list[EngineResult | Cancelled] = []
        for state in states:
            if state.outcome is not None:
                results.append(state.outcome)
                continue
            # The images' pixels come to the CPU after the compute, as a pipeline's
            # output_type="pil" does; that conversion is charged to the member, as there.
            started = time.perf_counter()
            pictures = [photo_image(s, recipe.width, recipe.height) for s in state.seeds]
            state.seconds += time.perf_counter() - started
            results.append(EngineResult(pictures, list(state.seeds), state.seconds))
        return results

    def _cancel_marked(self, states: Sequence[_Member], *, step: int) -> None:
        for state in states:
            if state.outcome is None and state.is_cancelled():
                state.outcome = Cancelled(step)

    def _wait(self, seconds: float, running: Sequence[_Member]) -> None:
        """Sleep until ``seconds`` have passed (the GIL is free meanwhile), in slices; ends
        early only when every member has been cancelled (the GPU would stop the batch)."""
        deadline = time.perf_counter() + seconds
        while (left := deadline - time.perf_counter()) > 0:
            time.sleep(min(WAIT_SLICE_S, left))
            if all(state.is_cancelled() for state in running):
                return

    def _preview(self, state: _Member, step: int, total: int, every: int) -> Image.Image | None:
        if step % every:
            return None
        recipe = state.member.recipe
        frames = [
            Image.fromarray(photo_pixels(s, recipe.width, recipe.height, PREVIEW_STRIDE), "RGB")
            for s in state.seeds
        ]
        return make_grid(frames)

    def _run_picture_operation(
        self,
        recipe: Recipe,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> EngineResult:
        """Variations, region edits, outpainting and upscales: one wait of MS, then pictures
        made from the recipe's own (so each button's result looks like what it should be)."""
        if cancelled is not None and cancelled():
            raise Cancelled(0)
        started = time.perf_counter()
        deadline = started + self.ms / 1000.0
        while (left := deadline - time.perf_counter()) > 0:
            time.sleep(min(WAIT_SLICE_S, left))
            if cancelled is not None and cancelled():
                raise Cancelled(0)
        seeds = image_seeds(recipe.seed, recipe.batch)
        images = [self._picture(recipe, seed) for seed in seeds]
        if progress is not None:
            progress(Progress(1, 1, None))
        return EngineResult(images, seeds, time.perf_counter() - started)

    def _picture(self, recipe: Recipe, seed: int) -> Image.Image:
        size = (recipe.width, recipe.height)
        texture = photo_image(seed, *size)
        strength = 1.0 if recipe.strength is None else recipe.strength
        if recipe.operation == "img2img":
            # Vary (Subtle/Strong): the picture, with as much new texture as the strength asks.
            return Image.blend(init_picture(recipe), texture, 0.5 * strength)
        if recipe.operation in ("inpaint", "outpaint"):
            # New texture inside the mask (white), the picture kept outside it.
            return Image.composite(texture, init_picture(recipe), recipe_mask(recipe))
        if recipe.operation == "upscale":
            big = source_picture(recipe).resize(size, Image.Resampling.BICUBIC)
            # Creative refines (strength set): a trace of new texture; Subtle is the resize.
            return Image.blend(big, texture, 0.1 * recipe.strength) if recipe.strength else big
        raise ValueError(f"unknown operation {recipe.operation!r}")  # pragma: no cover
