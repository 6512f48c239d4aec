"""Benchmark of the bundled model on held-out prompts (unseen concept/colour/background triples).

    python bench/bench_bundled.py [--prompts 200] [--threads 2] [--out grids.png] [--weights DIR]
                                  [--artwork node_modules] [--churn X] [--steps N] [--guidance G]

Prints, over the prompts:
  concept accuracy  the image encoder retrieves the prompt's concept among all concepts
  colour accuracy   the object's dominant hue (measured on pixels, no learned model) is the
                    prompt's colour word; the background's nearest colour name is shown too
  diversity         mean pairwise difference inside a grid (pixels, and 1 - cosine of the
                    image embeddings)
  seconds per grid  wall and process CPU seconds for four 256 px images
The sampler settings default to what the service uses; --churn, --steps and --guidance try
others. Chance levels are printed beside the accuracies for comparison. With --artwork (the npm
emoji packages that training reads) it also prints the encoder's concept accuracy on the held-out
combinations drawn from the real artwork: the most the generated pictures could score.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dreamloom.bundled.analysis import analyse
from dreamloom.bundled.describe import concept_scores
from dreamloom.bundled.pipeline import BundledModel
from dreamloom.bundled.vocab import HUES
from dreamloom.engine import PromptPart, Recipe, make_grid
from dreamloom.engine.backends.bundled import CHURN, INFO, BundledBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="save the first 16 grids here")
    parser.add_argument(
        "--weights", type=Path, default=None, help="exported weights (default: the packaged ones)"
    )
    parser.add_argument(
        "--artwork", type=Path, default=None, help="node_modules with the emoji packages"
    )
    parser.add_argument("--churn", type=float, default=CHURN, help="fresh noise a step, 0..1")
    parser.add_argument("--steps", type=int, default=INFO.default_steps)
    parser.add_argument("--guidance", type=float, default=INFO.default_guidance)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = BundledModel.load(args.weights)
    backend = BundledBackend(model, churn=args.churn)
    heldout = list(model.vocab.heldout)
    random.Random(0).shuffle(heldout)
    # Cycle through the held-out set with new seeds when more prompts are asked for.
    cases = [(heldout[i % len(heldout)], i) for i in range(args.prompts)]
    concepts = model.vocab.concepts

    concept_hits, colour_hits, back_hits, images_seen = 0, 0, 0, 0
    pixel_div, embed_div, walls, cpus = [], [], [], []
    grids: list[Image.Image] = []
    backend.run(_recipe("warm up", 0, args.steps, args.guidance))
    for case, index in cases:
        recipe = _recipe(case["prompt"], 1000 + index, args.steps, args.guidance)
        wall, cpu = time.perf_counter(), time.process_time()
        result = backend.run(recipe)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        images = result.images
        scores = concept_scores(model, images)
        for image, row in zip(images, scores, strict=True):
            facts = analyse(image)
            concept_hits += concepts[int(row.argmax())] == case["concept"]
            colour_hits += facts.hue == case["colour"]
            back_hits += facts.background == case["background"]
            images_seen += 1
        small = [
            np.asarray(i.resize((64, 64), Image.Resampling.BOX), dtype=np.float64) for i in images
        ]
        pixel_div.append(
            statistics.mean(np.abs(a - b).mean() / 255 for a, b in combinations(small, 2))
        )
        emb = model.embed_images(images)
        embed_div.append(
            statistics.mean(
                1 - float(emb[a] @ emb[b]) for a, b in combinations(range(len(images)), 2)
            )
        )
        if len(grids) < 16:
            grids.append(make_grid(images))

    n = images_seen
    rows = [
        f"bundled model benchmark: {len(cases)} held-out prompts, {n} images",
        f"concept accuracy   {concept_hits / n:.3f}   chance {1 / len(concepts):.3f}",
        f"colour accuracy    {colour_hits / n:.3f}   chance {1 / len(HUES):.3f}",
        f"background colour  {back_hits / n:.3f}   nearest of the 11 colour names",
        f"diversity (pixels) {statistics.mean(pixel_div):.3f}   mean |a - b| in a grid, 0..1",
        f"diversity (embed)  {statistics.mean(embed_div):.3f}   mean 1 - cos in a grid",
        f"seconds per grid   wall {statistics.median(walls):.2f}, cpu {statistics.median(cpus):.2f}"
        f"   median; 4 x {INFO.native_size} px, {args.threads} threads",
        f"sampler            {args.steps} steps, guidance {args.guidance:g}, churn {args.churn:g}",
    ]
    if args.artwork is not None:
        ceiling = _artwork_accuracy(model, args.artwork)
        rows.append(f"concept, real art {ceiling:.3f}   same prompts drawn from the artwork")
    print("\n".join(rows))
    if args.out is not None:
        sheet = Image.new("RGB", (4 * 512, 4 * 512), "white")
        for i, grid in enumerate(grids):
            sheet.paste(grid.resize((512, 512)), ((i % 4) * 512, (i // 4) * 512))
        sheet.save(args.out)
        print(f"first {len(grids)} grids saved to {args.out}")
        for i, (case, _) in enumerate(cases[: len(grids)]):
            print(f"  grid {i + 1:2d}: {case['prompt']}")


def _artwork_accuracy(model: BundledModel, node_modules: Path) -> float:
    from dreamloom.bundled.compose import compose
    from dreamloom.bundled.dataset import heldout_layout
    from dreamloom.bundled.sources import load_sprites

    sprites = load_sprites(node_modules)
    held = model.vocab.heldout
    layouts = [heldout_layout((h["concept"], h["colour"], h["background"])) for h in held]
    images = [compose(layout, sprites) for layout in layouts]
    best = concept_scores(model, images).argmax(dim=1).tolist()
    hits = sum(model.vocab.concepts[i] == h["concept"] for i, h in zip(best, held, strict=True))
    return hits / len(held)


def _recipe(text: str, seed: int, steps: int, guidance: float) -> Recipe:
    return Recipe(
        model=INFO.name,
        width=INFO.native_size,
        height=INFO.native_size,
        seed=seed,
        steps=steps,
        guidance=guidance,
        positive=(PromptPart(text),),
    )


if __name__ == "__main__":
    main()
