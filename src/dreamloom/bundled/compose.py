"""Drawing one training picture from a `Layout`: background, recolouring, placement.

The augmentations are exactly the things a caption says, so a prompt can address them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dreamloom.bundled.vocab import BACKGROUNDS, HUES, RGB, SCENES, Layout

IMAGE_SIZE = 32

# Sprite side and centre (in pixels of the 32 px picture) for each size and position.
_SIDES = {"normal": 22, "small": 14, "large": 30}
_CENTRES = {
    "centre": (16, 16),
    "left": (10, 16),
    "right": (22, 16),
    "top": (16, 10),
    "bottom": (16, 22),
}


def background(name: str, size: int = IMAGE_SIZE) -> np.ndarray:
    """(size, size, 3) float array in 0..1 for a plain colour, a "from-to" gradient or a scene."""
    rows = np.linspace(0.0, 1.0, size)[:, None, None]
    if name in SCENES:
        top, bottom = (np.array(c, dtype=np.float64) / 255 for c in SCENES[name])
        # The horizon sits a little below the middle, as in a landscape.
        mix = (rows > 0.6).astype(np.float64)
        image = top * (1 - mix) + bottom * mix
        return np.broadcast_to(image, (size, size, 3)).copy()
    if "-" in name:
        start, end = (np.array(BACKGROUNDS[c], dtype=np.float64) / 255 for c in name.split("-", 1))
        return np.broadcast_to(start * (1 - rows) + end * rows, (size, size, 3)).copy()
    colour = np.array(BACKGROUNDS[name], dtype=np.float64) / 255
    return np.broadcast_to(colour, (size, size, 3)).copy()


def recolour(rgba: np.ndarray, hue: float, line_art: bool) -> np.ndarray:
    """Give the whole object one hue, keeping its shading, so its dominant hue is that colour.

    Line art (dark strokes) gets the colour at full value; shaded artwork keeps its value
    (lightness) with a raised saturation so that pale parts still read as the colour.
    """
    rgb = rgba[..., :3].astype(np.float64) / 255
    value = rgb.max(axis=-1)
    saturation = np.full_like(value, 0.85)
    value = np.full_like(value, 0.9) if line_art else 0.35 + 0.65 * value
    out = _hsv_to_rgb(np.full_like(value, hue / 360.0), saturation, value)
    return np.concatenate([np.round(out * 255), rgba[..., 3:].astype(np.float64)], axis=-1).astype(
        np.uint8
    )


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros((*h.shape, 3))
    for index, channels in enumerate(table):
        sel = i == index
        for c in range(3):
            out[..., c][sel] = channels[c][sel]
    return out


def _paste(canvas: np.ndarray, sprite: np.ndarray, centre: tuple[int, int], side: int) -> None:
    image = Image.fromarray(sprite, "RGBA").resize((side, side), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.float64) / 255
    size = canvas.shape[0]
    x0, y0 = centre[0] - side // 2, centre[1] - side // 2
    xs, ys = max(0, x0), max(0, y0)
    xe, ye = min(size, x0 + side), min(size, y0 + side)
    patch = pixels[ys - y0 : ye - y0, xs - x0 : xe - x0]
    alpha = patch[..., 3:]
    canvas[ys:ye, xs:xe] = canvas[ys:ye, xs:xe] * (1 - alpha) + patch[..., :3] * alpha


def compose(
    layout: Layout,
    sprites: dict[tuple[str, str], np.ndarray],
    size: int = IMAGE_SIZE,
    jitter: tuple[int, int] = (0, 0),
) -> Image.Image:
    canvas = background(layout.background, size)
    scale = size / IMAGE_SIZE
    line_art = layout.style == "fluent-high-contrast"
    first = sprites[(layout.concept, layout.style)]
    if layout.colour is not None:
        first = recolour(first, HUES[layout.colour], line_art)
    elif line_art and _dark(layout.background):
        # Dark strokes vanish on a dark background; draw them light instead.
        first = _invert_lines(first)
    if layout.second is None:
        cx, cy = _CENTRES[layout.position]
        centre = (cx + jitter[0], cy + jitter[1])
        side = _SIDES[layout.size]
        _paste(
            canvas, first, (round(centre[0] * scale), round(centre[1] * scale)), round(side * scale)
        )
    else:
        second = sprites[(layout.second, layout.style)]
        if line_art and _dark(layout.background):
            second = _invert_lines(second)
        side = round(15 * scale)
        _paste(canvas, first, (round(8 * scale), round(16 * scale)), side)
        _paste(canvas, second, (round(24 * scale), round(16 * scale)), side)
    return Image.fromarray(np.round(canvas * 255).astype(np.uint8), "RGB")


def _dark(name: str) -> bool:
    return bool(background(name, 4).mean() < 0.35)


def _invert_lines(rgba: np.ndarray) -> np.ndarray:
    out = rgba.copy()
    out[..., :3] = 255 - out[..., :3]
    return out


def mean_colour(name: str) -> RGB:
    pixel = background(name, 4).mean(axis=(0, 1))
    return (round(pixel[0] * 255), round(pixel[1] * 255), round(pixel[2] * 255))
