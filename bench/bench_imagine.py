"""End-to-end `imagine` through the job queue vs the bare diffusers pipeline, same model.

Both run in this process's measurement: the bare call is ``pipeline(...)`` producing four PIL
images; the end-to-end run submits a prompt through ``Service`` (parse, recipe, admission, queue,
scheduler, worker process, PNG encoding, grid, database rows) and waits for completion. The
ratio of the medians is the overhead of everything dreamloom adds.

    python bench/bench_imagine.py --model tiny --runs 5
    python bench/bench_imagine.py --model sd-turbo-sized --runs 3    # ~3.5 GB RAM per copy
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
from dreamloom.service import Service

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


def bare_pipeline_seconds(folder: Path, seed: int, runs: int) -> tuple[list[float], dict[str, Any]]:
    from diffusers import StableDiffusionPipeline

    info = model_info(str(folder))
    recipe = recipe_for_imagine(parse_prompt(f"{PROMPT} --seed {seed}")[0], info, seed)
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    kwargs = {
        "prompt": PROMPT,
        "num_images_per_prompt": recipe.batch,
        "num_inference_steps": recipe.steps,
        "guidance_scale": recipe.guidance,
        "width": recipe.width,
        "height": recipe.height,
    }
    times = []
    for i in range(runs + 1):
        generator = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        with torch.inference_mode():
            images = pipe(generator=generator, **kwargs).images
        elapsed = time.perf_counter() - start
        assert len(images) == recipe.batch
        if i:  # the first call warms caches up
            times.append(elapsed)
    del pipe
    return times, kwargs


def end_to_end_seconds(folder: Path, root: Path, seed: int, runs: int) -> list[float]:
    settings = Settings(data_dir=root / "data", model=str(folder), workers=1)
    times = []
    with Service(settings) as service:
        account = service.ensure_user("bench", plan="mega")
        for i in range(runs + 1):
            start = time.perf_counter()
            (job,) = service.submit_imagine(account, f"{PROMPT} --seed {seed}")
            done = service.wait(job.id, timeout=900)
            elapsed = time.perf_counter() - start
            assert done.status == "completed", done.error
            assert len(done.images) == 5
            if i:  # the first job also loads the model into the worker
                times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "sd-turbo-sized"], default="tiny")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = prepare_model(args.model, root)
        bare, kwargs = bare_pipeline_seconds(folder, args.seed, args.runs)
        e2e = end_to_end_seconds(folder, root, args.seed, args.runs)
    b, e = statistics.median(bare), statistics.median(e2e)
    print(
        f"model {args.model}: {kwargs['width']}x{kwargs['height']}, "
        f"{kwargs['num_inference_steps']} step(s), guidance {kwargs['guidance_scale']}, batch 4"
    )
    print(f"bare pipeline      median {b:8.3f} s  runs {[round(t, 3) for t in bare]}")
    print(f"imagine end-to-end median {e:8.3f} s  runs {[round(t, 3) for t in e2e]}")
    print(f"overhead ratio end-to-end / bare = {e / b:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
