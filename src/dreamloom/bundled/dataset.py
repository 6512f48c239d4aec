"""Building the training set: captioned 32 px pictures with their text encodings, cached.

`build_dataset` is seeded and writes one folder:
  samples.npz    images (N, 32, 32, 3) uint8, concept index, caption index
  captions.npz   the distinct captions' token states (float16), masks and sentence vectors
  meta.json      captions, concepts, styles, held-out combinations, sources
Combinations in `heldout_prompts` never appear in training, so the benchmark measures
generalisation to unseen (concept, colour, background) triples.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from dreamloom.bundled.compose import compose
from dreamloom.bundled.vocab import BACKGROUNDS, HUES, POSITIONS, SCENES, Layout, caption

DEFAULT_SAMPLES = 12_000
# Each caption is drawn this many times (unmentioned style, a pixel of jitter), because
# encoding captions costs more CPU than drawing pictures.
RENDERS_PER_CAPTION = 2
HELDOUT_PER_CONCEPT = 2
_LIGHT = ("white", "yellow", "pink", "orange", "grey")


def concept_list(sprites: dict[tuple[str, str], np.ndarray]) -> list[str]:
    return sorted({concept for concept, _ in sprites})


def heldout_triples(concepts: list[str], seed: int = 1234) -> list[tuple[str, str, str]]:
    """(concept, object colour, background colour) triples kept out of training.

    The background never has the object's own colour word, so the colour check is possible.
    """
    rng = random.Random(seed)
    triples: list[tuple[str, str, str]] = []
    for concept in concepts:
        colours = rng.sample(sorted(HUES), HELDOUT_PER_CONCEPT)
        for colour in colours:
            backgrounds = [b for b in BACKGROUNDS if b != colour]
            triples.append((concept, colour, rng.choice(backgrounds)))
    return triples


def heldout_layout(triple: tuple[str, str, str]) -> Layout:
    """How a held-out (concept, colour, background) triple is drawn and captioned."""
    concept, colour, back = triple
    return Layout(concept, "noto", colour, back, mention_style=False)


def heldout_prompt(triple: tuple[str, str, str]) -> str:
    return caption(heldout_layout(triple))


def random_layout(
    rng: random.Random, concepts: list[str], styles: list[str], held: set[tuple[str, str, str]]
) -> Layout:
    while True:
        style = styles[0]
        if len(styles) > 1:
            # Noto carries the most detail and colour; the other styles share the rest.
            weights = [0.45 if s == "noto" else 0.55 / (len(styles) - 1) for s in styles]
            style = rng.choices(styles, weights=weights)[0]
        concept = rng.choice(concepts)
        colour = rng.choice(sorted(HUES)) if rng.random() < 0.55 else None
        kind = rng.random()
        if style == "fluent-high-contrast" and colour is None:
            back = rng.choice((*_LIGHT, "black"))
        elif kind < 0.65:
            back = rng.choice(sorted(BACKGROUNDS))
        elif kind < 0.8:
            start, end = rng.sample(sorted(BACKGROUNDS), 2)
            back = f"{start}-{end}"
        else:
            back = rng.choice(sorted(SCENES))
        if colour is not None and back == colour:
            continue
        if (concept, colour or "", back) in held:
            continue
        position = "centre" if rng.random() < 0.55 else rng.choice(POSITIONS[1:])
        size = rng.choices(["normal", "small", "large"], weights=[0.7, 0.15, 0.15])[0]
        if size == "large":
            position = "centre"
        second = None
        if rng.random() < 0.12:
            second = rng.choice([c for c in concepts if c != concept])
            position, size, colour = "centre", "normal", None
        return Layout(concept, style, colour, back, position, size, second, rng.random() < 0.6)


def variant(
    layout: Layout, rng: random.Random, styles: list[str]
) -> tuple[Layout, tuple[int, int]]:
    """One drawing of a caption: an unmentioned style may differ, and the object may sit a
    pixel off, neither of which the caption can contradict."""
    if not layout.mention_style and layout.style != "fluent-high-contrast":
        options = [s for s in styles if s != "fluent-high-contrast"] or styles
        layout = replace(layout, style=rng.choice(options))
    return layout, (rng.randint(-1, 1), rng.randint(-1, 1))


def build_dataset(
    out_dir: Path,
    *,
    node_modules: Path,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    sprites: dict[tuple[str, str], np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Compose `samples` captioned pictures from the emoji packages under `node_modules` (or the
    given `sprites`, for tests) and encode their captions. Returns `out_dir`."""
    from dreamloom.bundled.sources import load_sprites

    say = progress or (lambda _msg: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    if sprites is None:
        say(f"reading artwork under {node_modules}")
        sprites = load_sprites(node_modules)
    if not sprites:
        raise FileNotFoundError(f"no emoji artwork found under {node_modules}")
    concepts = concept_list(sprites)
    styles = sorted({style for _, style in sprites})
    # Only concepts present in every style, so a style word never has to guess a shape.
    concepts = [c for c in concepts if all((c, s) in sprites for s in styles)]
    triples = heldout_triples(concepts)
    held = set(triples)
    rng = random.Random(seed)
    say(f"composing {samples} pictures of {len(concepts)} concepts in {len(styles)} styles")
    layouts = [
        random_layout(rng, concepts, styles, held) for _ in range(samples // RENDERS_PER_CAPTION)
    ]
    drawn = [variant(layout, rng, styles) for layout in layouts for _ in range(RENDERS_PER_CAPTION)]
    images = np.stack([np.asarray(compose(layout, sprites, jitter=jit)) for layout, jit in drawn])
    texts = [caption(layout) for layout, _ in drawn]
    distinct = sorted(set(texts) | {""})
    index = {text: i for i, text in enumerate(distinct)}
    say(f"encoding {len(distinct)} distinct captions")
    encoded = _encode_all(distinct, say)
    np.savez(
        out_dir / "samples.npz",
        images=images,
        concept=np.array([concepts.index(layout.concept) for layout, _ in drawn], dtype=np.int32),
        caption=np.array([index[text] for text in texts], dtype=np.int32),
    )
    np.savez(
        out_dir / "captions.npz",
        tokens=encoded["tokens"],
        mask=encoded["mask"],
        pooled=encoded["pooled"],
    )
    concept_vectors = _encode_all([f"a {c}" for c in concepts], say)["pooled"]
    np.save(out_dir / "concept_vectors.npy", concept_vectors)
    meta: dict[str, Any] = {
        "seed": seed,
        "captions": distinct,
        "concepts": concepts,
        "styles": styles,
        "heldout": [
            {"concept": c, "colour": col, "background": b, "prompt": heldout_prompt((c, col, b))}
            for c, col, b in triples
        ],
        "examples": [asdict(layout) for layout in layouts[:20]],
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    say(f"dataset written to {out_dir}")
    return out_dir


def _encode_all(
    texts: list[str], say: Callable[[str], None], chunk: int = 256
) -> dict[str, np.ndarray]:
    from dreamloom.bundled.text import MAX_TOKENS, TEXT_DIM, TextEncoder

    encoder = TextEncoder()
    # Sorted by length so each chunk is padded only to its own longest caption.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    tokens = np.zeros((len(texts), MAX_TOKENS, TEXT_DIM), dtype=np.float16)
    mask = np.zeros((len(texts), MAX_TOKENS), dtype=np.uint8)
    pooled = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
    for start in range(0, len(texts), chunk):
        pick = order[start : start + chunk]
        batch = encoder.encode([texts[i] for i in pick], pad_to_longest=True)
        width = batch.tokens.shape[1]
        tokens[pick, :width] = batch.tokens.numpy().astype(np.float16)
        mask[pick, :width] = batch.mask.numpy().astype(np.uint8)
        pooled[pick] = batch.pooled.numpy()
        if start and start % (chunk * 8) == 0:
            say(f"  {start}/{len(texts)} captions")
    return {"tokens": tokens, "mask": mask, "pooled": pooled}
