"""End-to-end `imagine` through the job queue vs the bare diffusers pipeline, same model.

Both are measured by this process: the bare call is ``pipeline(...)`` producing four PIL images
(the model loaded here); the end-to-end run submits a prompt through ``Service`` (parse, recipe,
admission, queue, scheduler, worker process with its own copy of the model, moderation, PNG
encoding, grid, database rows) and waits for completion. Runs alternate between the two. The
ratio of the medians is the overhead of everything dreamloom adds.

    python bench/bench_imagine.py --model tiny --runs 5
    python bench/bench_imagine.py --model sd-turbo-sized --runs 5    # two copies, ~3.5 GB each
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from dreamloom.config import Settings
from dreamloom.engine import model_info, recipe_for_imagine
from dreamloom.engine.tiny import (
    DEFAULTS_FILE,
    build_sd_turbo_sized_pipeline,
    ensure_tiny_model,
)
from dreamloom.prompt import parse_prompt
from dreamloom.service import AccountView, Service

PROMPT = "a lighthouse at dusk"


def prepare_model(kind: str, root: Path) -> Path:
    if kind == "tiny":
        return ensure_tiny_model(root / "models")
    folder = root / "sd-turbo-sized"
    pipeline = build_sd_turbo_sized_pipeline()
    pipeline.save_pretrained(folder)
    # Like SD-Turbo: 512 px, one step, no classifier-free guidance.
    defaults = {"native_size": 512, "default_steps": 1, "default_guidance": 0.0}
    (folder / DEFAULTS_FILE).write_text(json.dumps(defaults))
    del pipeline
    return folder


class BarePipeline:
    """``pipeline(...)`` on the same model and the recipe's own settings, in this process."""

    def __init__(self, folder: Path, seed: int) -> None:
        from diffusers import StableDiffusionPipeline

        info = model_info(str(folder))
        recipe = recipe_for_imagine(parse_prompt(f"{PROMPT} --seed {seed}")[0], info, seed)
        self.seed = seed
        self.batch = recipe.batch
        self.pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None)
        self.pipe.set_progress_bar_config(disable=True)
        self.kwargs: dict[str, Any] = {
            "prompt": PROMPT,
            "num_images_per_prompt": recipe.batch,
            "num_inference_steps": recipe.steps,
            "guidance_scale": recipe.guidance,
            "width": recipe.width,
            "height": recipe.height,
        }

    def run(self) -> float:
        generator = torch.Generator().manual_seed(self.seed)
        start = time.perf_counter()
        with torch.inference_mode():
            images = self.pipe(generator=generator, **self.kwargs).images
        elapsed = time.perf_counter() - start
        assert len(images) == self.batch
        return elapsed


def end_to_end(service: Service, account: AccountView, seed: int) -> float:
    """Submit through the queue and wait for the stored grid and singles."""
    start = time.perf_counter()
    (job,) = service.submit_imagine(account, f"{PROMPT} --seed {seed}")
    done = service.wait(job.id, timeout=900)
    elapsed = time.perf_counter() - start
    assert done.status == "completed", done.error
    assert len(done.images) == 5
    return elapsed


def measure(
    folder: Path, root: Path, seed: int, runs: int
) -> tuple[list[float], list[float], dict[str, Any]]:
    """Bare and end-to-end runs taken in turns, after one warm-up of each (caches, and the
    worker loading the model): a machine that slows down or speeds up over the minutes a
    large model takes affects both sides alike."""
    bare = BarePipeline(folder, seed)
    settings = Settings(data_dir=root / "data", model=str(folder), workers=1)
    bare_times: list[float] = []
    e2e_times: list[float] = []
    with Service(settings) as service:
        account = service.ensure_user("bench", plan="mega")
        bare.run()
        end_to_end(service, account, seed)
        for _ in range(runs):
            bare_times.append(bare.run())
            e2e_times.append(end_to_end(service, account, seed))
    return bare_times, e2e_times, bare.kwargs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "sd-turbo-sized"], default="tiny")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = prepare_model(args.model, root)
        bare, e2e, kwargs = measure(folder, root, args.seed, args.runs)
    b, e = statistics.median(bare), statistics.median(e2e)
    pairs = statistics.median(x / y for x, y in zip(e2e, bare, strict=True))
    print(
        f"model {args.model}: {kwargs['width']}x{kwargs['height']}, "
        f"{kwargs['num_inference_steps']} step(s), guidance {kwargs['guidance_scale']}, batch 4"
    )
    print(f"bare pipeline      median {b:8.3f} s  runs {[round(t, 3) for t in bare]}")
    print(f"imagine end-to-end median {e:8.3f} s  runs {[round(t, 3) for t in e2e]}")
    print(f"overhead ratio end-to-end / bare = {e / b:.3f}  (target <= 1.05)")
    print(f"median of the ratios of consecutive pairs = {pairs:.3f}")


if __name__ == "__main__":
    main()
