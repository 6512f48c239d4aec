"""Describe, embeddings and search on the bundled model.

The image encoder places a picture in the text encoder's sentence space; concepts are retrieved
there by cosine similarity against "a {concept}". Colours and layout come from measuring the
pixels (`analysis`), which needs no model and is exact on this kind of artwork.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from dreamloom.bundled.analysis import analyse
from dreamloom.bundled.pipeline import BundledModel
from dreamloom.bundled.vocab import STYLES, article


def concept_scores(model: BundledModel, images: Sequence[Image.Image]) -> torch.Tensor:
    """(len(images), K) cosine similarities to every known concept."""
    return model.embed_images(list(images)) @ model.vocab.concept_vectors.T


def top_concepts(model: BundledModel, image: Image.Image, k: int = 3) -> list[str]:
    scores = concept_scores(model, [image])[0]
    return [model.vocab.concepts[i] for i in scores.topk(k).indices.tolist()]


def style_of(model: BundledModel, image: Image.Image, concept: str) -> str:
    """The art style whose caption lies nearest to the picture."""
    emb = model.embed_images([image])[0]
    words = sorted(set(STYLES.values()))
    scores = [
        float(emb @ model.embed_text(f"{article(concept)} {concept}, {w} style")) for w in words
    ]
    return words[max(range(len(words)), key=scores.__getitem__)]


def describe(model: BundledModel, image: Image.Image) -> list[str]:
    """Four distinct prompts for `image`, each naming the concept the encoder sees first."""
    first, second, third = top_concepts(model, image, 3)
    facts = analyse(image)
    style = style_of(model, image, first)
    colour = f"{facts.hue} " if facts.hue else ""
    where = "" if facts.position == "centre" else f" at the {facts.position}"
    noun = f"{colour}{first}"
    prompts = [
        f"{article(noun)} {noun} on {article(facts.background)} {facts.background} background",
        f"{article(first)} {first} emoji{where}, {style} style, {facts.background} backdrop",
        f"a simple {style} illustration of {article(noun)} {noun}, with hints of {second}",
        f"{first} and {third}, {colour or 'colourful '}icon on {facts.background}, minimal",
    ]
    unique: list[str] = []
    for prompt in prompts:
        if prompt not in unique:
            unique.append(prompt)
    while len(unique) < 4:  # cannot happen with the templates above; kept as a guarantee
        unique.append(f"{first}, variation {len(unique) + 1}")
    return unique


def search(model: BundledModel, query: str, images: Sequence[Image.Image]) -> list[int]:
    """Indices of `images`, best match to the text `query` first."""
    if not images:
        return []
    scores = model.embed_images(list(images)) @ model.embed_text(query)
    return [int(i) for i in scores.argsort(descending=True).tolist()]
