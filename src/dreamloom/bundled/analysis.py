"""Measuring a picture without any learned model: background colour, the object's dominant
hue, and where the object sits. The benchmark's colour accuracy and parts of describe use it.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image

from dreamloom.bundled.vocab import BACKGROUNDS, nearest_hue_word

_SIDE = 64
# An object pixel differs from the background colour by at least this much (RGB distance).
_OBJECT_DISTANCE = 60.0
_MIN_SATURATION = 0.3
_MIN_VALUE = 0.2


@dataclass(frozen=True)
class Analysis:
    background: str  # nearest plain background word
    hue: str | None  # dominant hue word of the object, None when it is grey or absent
    position: str  # centre, left, right, top or bottom
    coverage: float  # share of the picture the object covers


def analyse(image: Image.Image) -> Analysis:
    pixels = np.asarray(image.convert("RGB").resize((_SIDE, _SIDE), Image.Resampling.BOX))
    pixels = pixels.astype(np.float64)
    edges = (pixels[:2], pixels[-2:], pixels[:, :2], pixels[:, -2:])
    ring = np.concatenate([edge.reshape(-1, 3) for edge in edges])
    back = np.median(ring, axis=0)
    distance = np.linalg.norm(pixels - back, axis=-1)
    obj = distance > _OBJECT_DISTANCE
    background = min(
        BACKGROUNDS, key=lambda name: float(np.linalg.norm(np.array(BACKGROUNDS[name]) - back))
    )
    return Analysis(background, _dominant_hue(pixels[obj]), _position(obj), float(obj.mean()))


def _dominant_hue(pixels: np.ndarray) -> str | None:
    votes: dict[str, float] = {}
    for r, g, b in pixels / 255.0:
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        if s >= _MIN_SATURATION and v >= _MIN_VALUE:
            word = nearest_hue_word(h * 360.0)
            votes[word] = votes.get(word, 0.0) + s * v
    if not votes or len(pixels) == 0 or sum(votes.values()) < 0.05 * len(pixels):
        return None
    return max(votes, key=lambda word: votes[word])


def _position(obj: np.ndarray) -> str:
    if not obj.any():
        return "centre"
    ys, xs = np.nonzero(obj)
    dx, dy = xs.mean() / _SIDE - 0.5, ys.mean() / _SIDE - 0.5
    if max(abs(dx), abs(dy)) < 0.12:
        return "centre"
    if abs(dx) >= abs(dy):
        return "left" if dx < 0 else "right"
    return "top" if dy < 0 else "bottom"
