"""Reading emoji artwork out of installed npm packages into square RGBA sprites.

The repository holds no images: `scripts/build-bundled-data.sh` installs the packages into a
scratch folder and the dataset builder reads them from there (see NOTICE for the licences).
Noto comes as 64 px PNGs (`emoji-datasource-google`); Fluent as SVGs (`fluentui-emoji`),
rasterised here with resvg.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from dreamloom.bundled.vocab import CONCEPTS

SPRITE_SIZE = 64

NOTO_PACKAGE = "emoji-datasource-google"
FLUENT_PACKAGE = "fluentui-emoji"
FLUENT_STYLES = {"fluent-flat": "flat", "fluent-high-contrast": "high-contrast"}


def cldr_names() -> dict[str, str]:
    """Emoji character (without variation selectors) -> lower-case CLDR short name."""
    import emoji

    names: dict[str, str] = {}
    for char, data in emoji.EMOJI_DATA.items():
        name = str(data["en"]).strip(":").replace("_", " ").lower()
        names[char.replace("\ufe0f", "")] = name
    return names


def _square(image: Image.Image) -> Image.Image:
    """Crop to the drawn pixels and centre them on a transparent square, so that every source
    set fills the frame the same way and "size" in a caption means the same thing."""
    rgba = image.convert("RGBA")
    box = rgba.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if box is not None:
        rgba = rgba.crop(box)
    side = max(rgba.size)
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    canvas.paste(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    return canvas.resize((SPRITE_SIZE, SPRITE_SIZE), Image.Resampling.LANCZOS)


def noto_sprites(node_modules: Path) -> Iterator[tuple[str, Image.Image]]:
    """(CLDR name, sprite) for every concept the Noto set has."""
    root = node_modules / NOTO_PACKAGE
    if not (root / "emoji.json").exists():
        return
    names = cldr_names()
    entries = json.loads((root / "emoji.json").read_text(encoding="utf-8"))
    for entry in entries:
        char = "".join(chr(int(code, 16)) for code in entry["unified"].split("-"))
        name = names.get(char.replace("\ufe0f", ""))
        path = root / "img" / "google" / "64" / entry["image"]
        if name in CONCEPTS and path.exists():
            yield name, _square(Image.open(path))


def fluent_sprites(node_modules: Path, style: str) -> Iterator[tuple[str, Image.Image]]:
    import resvg_py

    folder = node_modules / FLUENT_PACKAGE / "icons" / FLUENT_STYLES[style]
    if not folder.is_dir():
        return
    for name in CONCEPTS:
        path = folder / (name.replace(" ", "-").replace("'", "") + ".svg")
        if path.exists():
            png = resvg_py.svg_to_bytes(svg_path=str(path), width=256, height=256)
            yield name, _square(Image.open(io.BytesIO(bytes(png))))


def load_sprites(node_modules: Path) -> dict[tuple[str, str], np.ndarray]:
    """(concept word, style) -> RGBA uint8 array (64, 64, 4), for every source found."""
    sprites: dict[tuple[str, str], np.ndarray] = {}
    for name, image in noto_sprites(node_modules):
        sprites[(CONCEPTS[name], "noto")] = np.asarray(image, dtype=np.uint8)
    for style in FLUENT_STYLES:
        for name, image in fluent_sprites(node_modules, style):
            sprites[(CONCEPTS[name], style)] = np.asarray(image, dtype=np.uint8)
    return sprites
