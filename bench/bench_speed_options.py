"""The engine's speed options (compile, channels-last, classic attention) against the model as
loaded: first-call time, steady time per grid, and how far the pixels move.

One model in this process, one grid recipe through `DiffusersBackend.run` (the engine's own
path: conditioning, step callback, decode to PIL). Each option is applied to the loaded modules
with `engine.options.apply_options` and taken off again after its run, and the variants run in
turns, round after round, so a machine that slows down over the minutes affects all alike.

- compile's first call includes compiling, from an empty inductor cache (this script points
  TORCHINDUCTOR_CACHE_DIR at a fresh folder unless one is set: a new machine's first job);
  after the rounds it compiles again from the now warm cache (a restarted server's first job).
- The pixel difference is the largest, and the mean, over every channel of the four images
  (0-255) against the baseline's images of the same recipe.

    python bench/bench_speed_options.py --model tiny --rounds 5
    python bench/bench_speed_options.py --model sd-turbo-sized --rounds 2   # ~3.5 GB, slow on a CPU
    python bench/bench_speed_options.py --model sd-turbo-sized --device cuda --rounds 10

"speedup" is the baseline's median time over the variant's (above 1: faster); "pairwise" the
median of that ratio within each round. The last line is JSON: {"model", "device", "variants":
{name: {"median_s", "speedup", "pairwise_speedup", "first_call_s", "max_pixel_diff",
"mean_pixel_diff"}}, "compile_cold_s", "compile_warm_s"}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    # Before torch is imported: compile time is measured from an empty cache.
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-inductor-")

import torch

from dreamloom.engine import PromptPart, Recipe
from dreamloom.engine.backends.diffusers import DiffusersBackend
from dreamloom.engine.models import model_info
from dreamloom.engine.options import Attention, EngineOptions, apply_options
from dreamloom.engine.recipe import ModelInfo
from dreamloom.engine.tiny import build_sd_turbo_sized_pipeline, build_tiny_pipeline

PROMPT = "a lighthouse at dusk"


def load(kind: str, device: str) -> tuple[DiffusersBackend, Recipe]:
    if kind == "tiny":
        pipeline, info = build_tiny_pipeline(), model_info("tiny")
    else:
        # Like SD-Turbo: 512 px, one step, no classifier-free guidance.
        pipeline = build_sd_turbo_sized_pipeline()
        info = ModelInfo(
            name=kind, native_size=512, default_steps=1, default_guidance=0.0, multiple=8
        )
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    pipeline = pipeline.to(device, dtype)
    recipe = Recipe(
        model=kind,
        width=info.native_size,
        height=info.native_size,
        seed=7,
        steps=info.default_steps,
        guidance=info.default_guidance,
        positive=(PromptPart(PROMPT),),
    )
    return DiffusersBackend(pipeline, info), recipe


@dataclass
class Variant:
    name: str
    apply: Callable[[], None]
    undo: Callable[[], None]
    times: list[float] = field(default_factory=list)
    first_call: float = 0.0
    pixels: np.ndarray | None = None


def variants(backend: DiffusersBackend, device: str) -> list[Variant]:
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet, vae = backend.pipeline.unet, backend.pipeline.vae

    def options(**values: Any) -> Callable[[], None]:
        return lambda: apply_options(EngineOptions(**values), unet, vae, device=device)

    def contiguous() -> None:
        for module in (unet, vae):
            module.to(memory_format=torch.contiguous_format)

    def sdpa() -> None:
        for module in (unet, vae):
            module.set_attn_processor(AttnProcessor2_0())

    # Compiled calls are kept aside between the compile variant's runs, so the other
    # variants run eagerly and the compiled code is not compiled again.
    compiled: dict[str, Any] = {}
    parts = {"unet": unet, "decoder": vae.decoder}

    def compile_on() -> None:
        if not compiled:
            options(compile=True)()
        else:
            for name, module in parts.items():
                module._compiled_call_impl = compiled[name]

    def compile_off() -> None:
        for name, module in parts.items():
            compiled[name] = module._compiled_call_impl
            module._compiled_call_impl = None

    def nothing() -> None:
        pass

    return [
        Variant("baseline", nothing, nothing),
        Variant("channels-last", options(channels_last=True), contiguous),
        Variant("attention classic", options(attention=Attention.CLASSIC), sdpa),
        Variant("compile", compile_on, compile_off),
    ]


def run(backend: DiffusersBackend, recipe: Recipe) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    images = backend.run(recipe).images  # under no_grad, as in a worker
    elapsed = time.perf_counter() - started
    return elapsed, np.stack([np.asarray(image, dtype=np.int16) for image in images])


def measure(backend: DiffusersBackend, recipe: Recipe, device: str, rounds: int) -> dict[str, Any]:
    chosen = variants(backend, device)
    # First calls: the baseline's warms the allocator and oneDNN's caches; compile's compiles.
    for variant in chosen:
        variant.apply()
        variant.first_call, variant.pixels = run(backend, recipe)
        variant.undo()
        print(f"  first call {variant.name:<18} {variant.first_call:9.3f} s", flush=True)
    for number in range(rounds):
        # Each round starts with the next variant, so none always runs first or last.
        turn = number % len(chosen)
        for variant in chosen[turn:] + chosen[:turn]:
            variant.apply()
            variant.times.append(run(backend, recipe)[0])
            variant.undo()
        times = ", ".join(f"{v.name} {v.times[-1]:.3f} s" for v in chosen)
        print(f"  round {number + 1}/{rounds}: {times}", flush=True)
    # A restarted server compiles again, from the cache the first compile filled.
    torch._dynamo.reset()
    compile_variant = chosen[-1]
    for module in (backend.pipeline.unet, backend.pipeline.vae.decoder):
        module._compiled_call_impl = None
    apply_options(
        EngineOptions(compile=True), backend.pipeline.unet, backend.pipeline.vae, device=device
    )
    warm_first = run(backend, recipe)[0]
    baseline = statistics.median(chosen[0].times)
    assert chosen[0].pixels is not None
    report: dict[str, Any] = {}
    for variant in chosen:
        median = statistics.median(variant.times)
        assert variant.pixels is not None
        difference = np.abs(variant.pixels - chosen[0].pixels)
        pairs = [b / t for b, t in zip(chosen[0].times, variant.times, strict=True)]
        report[variant.name] = {
            "median_s": round(median, 4),
            "speedup": round(baseline / median, 3),
            # The same round's runs are minutes apart at most: steadier on a busy machine.
            "pairwise_speedup": round(statistics.median(pairs), 3),
            "first_call_s": round(variant.first_call, 3),
            "max_pixel_diff": int(difference.max()),
            "mean_pixel_diff": round(float(difference.mean()), 4),
        }
    steady = statistics.median(compile_variant.times)
    return {
        "variants": report,
        "compile_cold_s": round(compile_variant.first_call - steady, 2),
        "compile_warm_s": round(warm_first - steady, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["tiny", "sd-turbo-sized"], default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    backend, recipe = load(args.model, args.device)
    print(
        f"model {args.model} on {args.device} ({torch.get_num_threads()} threads): "
        f"{recipe.width}x{recipe.height}, {recipe.steps} step(s), guidance {recipe.guidance}, "
        f"batch {recipe.batch}; inductor cache {os.environ['TORCHINDUCTOR_CACHE_DIR']}",
        flush=True,
    )
    result = measure(backend, recipe, args.device, args.rounds)
    heads = (
        ("median s", 9),
        ("speedup", 8),
        ("pairwise", 9),
        ("1st call s", 10),
        ("max px", 7),
        ("mean px", 8),
    )
    print(f"{'variant':<18}" + "".join(f" {head:>{width}}" for head, width in heads))
    for name, row in result["variants"].items():
        print(
            f"{name:<18} {row['median_s']:9.3f} {row['speedup']:8.3f}"
            f" {row['pairwise_speedup']:9.3f} {row['first_call_s']:10.3f}"
            f" {row['max_pixel_diff']:7d} {row['mean_pixel_diff']:8.4f}"
        )
    print(
        f"compile time (first call less a steady one): {result['compile_cold_s']} s from an "
        f"empty cache, {result['compile_warm_s']} s from a warm one"
    )
    print(json.dumps({"model": args.model, "device": args.device, **result}))


if __name__ == "__main__":
    main()
