"""Outpainting geometry: where the picture goes on the enlarged canvas of Zoom Out, the pans and
Make Square, and the canvas image and mask the inpainting pipeline is given.

Pure arithmetic and Pillow; no model. The canvas must stay within the model's pixel budget
(`PIXEL_BUDGET` times its native area): a UNet asked for far more than the area it was trained
at repeats subjects and costs quadratically more in attention, so a canvas that would be larger
is scaled down as a whole (the original shrinks with it) before anything is generated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from PIL import Image, ImageFilter

Pan = Literal["left", "right", "up", "down"]
PANS: tuple[str, ...] = get_args(Pan)

# A canvas may hold at most this multiple of the model's native area (Midjourney keeps a pixel
# budget too: `--ar` "changes width and height but not the max file size").
PIXEL_BUDGET = 1.6
# A pan extends the canvas by half the picture's side in its direction (1024 -> 1536).
PAN_GROWTH = 0.5
MAX_ZOOM = 2.0


@dataclass(frozen=True)
class Canvas:
    width: int
    height: int
    # Where the original goes, at what size: (left, top, width, height) in canvas pixels.
    box: tuple[int, int, int, int]
    source: tuple[int, int]  # the original's own size

    @property
    def resampled(self) -> bool:
        """Whether the original had to change size (to keep the canvas within the budget)."""
        return self.box[2:] != self.source


def plan_canvas(
    size: tuple[int, int],
    *,
    zoom: float | None = None,
    pan: Pan | None = None,
    make_square: bool = False,
    budget_area: float,
    multiple: int = 8,
) -> Canvas:
    """The canvas for exactly one of: zoom out by `zoom` (1 < zoom <= 2, the original centred),
    a pan (the original against the opposite edge), or make square (the original centred).

    Within the budget the original keeps its exact pixels and the canvas is rounded up to
    whole latent cells (which may pass the budget by those few pixels); beyond it the canvas
    is scaled to the budget, rounded down, and the original fitted into it, so the zoom factor
    is kept up to a pixel of rounding.
    """
    if (zoom is not None) + (pan is not None) + bool(make_square) != 1:
        raise ValueError("give exactly one of zoom, pan or make_square")
    width, height = size
    if width < 1 or height < 1:
        raise ValueError("the image is empty")
    if zoom is not None:
        if not 1.0 < zoom <= MAX_ZOOM:
            raise ValueError(f"zoom must be more than 1 and at most {MAX_ZOOM:g}, not {zoom:g}")
        fx = fy = float(zoom)
    elif pan is not None:
        if pan not in PANS:
            raise ValueError(f"pan must be one of {', '.join(PANS)}, not {pan!r}")
        horizontal = pan in ("left", "right")
        fx, fy = (1 + PAN_GROWTH, 1.0) if horizontal else (1.0, 1 + PAN_GROWTH)
    else:
        if width == height:
            raise ValueError("the image is already square")
        side = max(width, height)
        fx, fy = side / width, side / height

    scale = min(1.0, math.sqrt(budget_area / (width * fx * height * fy)))
    if scale >= 1.0:
        inner = (width, height)
        canvas = (_ceil_to(width * fx, multiple), _ceil_to(height * fy, multiple))
    else:
        canvas = (_floor_to(width * fx * scale, multiple), _floor_to(height * fy * scale, multiple))
        if make_square:
            canvas = (max(canvas), max(canvas))
        inner = (max(1, round(canvas[0] / fx)), max(1, round(canvas[1] / fy)))
    left, top = _place(canvas, inner, pan)
    return Canvas(canvas[0], canvas[1], (left, top, *inner), (width, height))


def _place(canvas: tuple[int, int], inner: tuple[int, int], pan: Pan | None) -> tuple[int, int]:
    left, top = (canvas[0] - inner[0]) // 2, (canvas[1] - inner[1]) // 2
    if pan == "left":  # new picture on the left: the original moves to the right edge
        left = canvas[0] - inner[0]
    elif pan == "right":
        left = 0
    elif pan == "up":
        top = canvas[1] - inner[1]
    elif pan == "down":
        top = 0
    return left, top


def _ceil_to(value: float, multiple: int) -> int:
    # The tolerance keeps 64 * 1.5 at 96 when floating point makes it 96.00000000001.
    return max(multiple, math.ceil(value / multiple - 1e-9) * multiple)


def _floor_to(value: float, multiple: int) -> int:
    # Down, so that a canvas scaled to the budget stays within it.
    return max(multiple, math.floor(value / multiple + 1e-9) * multiple)


def compose(image: Image.Image, canvas: Canvas) -> tuple[Image.Image, Image.Image]:
    """(canvas picture, mask): the original in its box over a blurred stretch of itself, and a
    mask that is white over everything new.

    The blurred stretch carries the picture's colours outwards: a pipeline that starts from the
    canvas (strength below 1, or an inpainting UNet reading the masked picture) then begins
    near plausible colours instead of a flat grey frame that would show as a seam.
    """
    left, top, width, height = canvas.box
    size = (canvas.width, canvas.height)
    source = image.convert("RGB")
    inner = source if source.size == (width, height) else _resized(source, (width, height))
    radius = max(canvas.width, canvas.height) / 16
    picture = source.resize(size, Image.Resampling.BILINEAR).filter(
        ImageFilter.GaussianBlur(radius)
    )
    picture.paste(inner, (left, top))
    mask = Image.new("L", size, 255)
    mask.paste(0, (left, top, left + width, top + height))
    return picture, mask


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.resize(size, Image.Resampling.LANCZOS)
