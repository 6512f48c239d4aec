"""The README's pictures of references on the bundled model: an image prompt (and `--iw`),
`--sref` codes, and `--p` with a moodboard, each beside the same prompt and seed without it.

    .venv/bin/python scripts/reference_pictures.py [docs/images/bundled-references.jpg]

Runs the engine as a worker does (recipes with their references, the packaged weights), on the
CPU, in about half a minute.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from dreamloom.engine import Reference, ReferenceKind, model_info, recipe_for_imagine
from dreamloom.engine.backends.bundled import BundledBackend
from dreamloom.engine.grid import make_grid
from dreamloom.engine.references import references_for
from dreamloom.prompt import parse_prompt

SEED = 3
PROMPT = "a red fox on a green background"
CELL = 256  # each grid shown at this size
LABEL = 30


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def main(out: Path) -> None:
    backend = BundledBackend.load()
    info = model_info("bundled")

    def grid(
        text: str, images: dict[str, bytes] | None = None, personal: bytes = b""
    ) -> Image.Image:
        prompt = parse_prompt(text)[0]
        mood = [Reference(ReferenceKind.PERSONAL, 1.0, image=personal)] if personal else []
        references = references_for(prompt, images or {}, mood)
        result = backend.run(recipe_for_imagine(prompt, info, SEED, references))
        return make_grid(result.images)

    blue = grid("a blue heart on a blue background").resize((CELL, CELL))
    picture = _png(blue)
    link = "https://example.com/blue.png"
    plain = grid(f"{PROMPT} --seed {SEED}")
    rows = [
        (
            "image prompt",
            [
                ("the picture", blue),
                (PROMPT, plain),
                ("picture + prompt --iw 2", grid(f"{link} {PROMPT} --iw 2", {link: picture})),
            ],
        ),
        (
            "--sref codes",
            [
                (PROMPT, plain),
                ("--sref 123", grid(f"{PROMPT} --sref 123")),
                ("--sref 456", grid(f"{PROMPT} --sref 456")),
            ],
        ),
        (
            "--p (a moodboard of the blue picture)",
            [
                ("the moodboard", blue),
                (PROMPT, plain),
                ("--p", grid(f"{PROMPT} --p", personal=picture)),
            ],
        ),
    ]
    sheet = Image.new("RGB", (3 * CELL, len(rows) * (CELL + 2 * LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (title, cells) in enumerate(rows):
        top = r * (CELL + 2 * LABEL)
        draw.text((6, top + 8), title, fill="black")
        for c, (caption, image) in enumerate(cells):
            sheet.paste(image.resize((CELL, CELL)), (c * CELL, top + 2 * LABEL))
            draw.text((c * CELL + 6, top + LABEL + 8), caption, fill=(60, 60, 60))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=88)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images/bundled-references.jpg"))
