"""End-to-end `imagine` through the job queue vs the bare diffusers pipeline, same model.

Three modes, each measured by this one process against a baseline of its own:

* default (``--model tiny|sd-turbo-sized --runs N``): a lone grid, bare ``pipeline(...)`` (four
  PIL images, the model loaded here) against ``Service`` end to end (parse, recipe, admission,
  queue, scheduler, worker process with its own copy of the model, moderation, PNG encoding,
  grid, database rows), runs taken in turns; the ratio of the medians is the overhead of
  everything dreamloom adds.
* ``--device cuda`` (or ``cpu``): the table of issue 17 on a real device, with the
  SD-Turbo-sized random pipeline (built in code: no network needed; fp16 on cuda) or ``--model
  tiny``: the lone grid as above, the bare pipeline's images/s for 16 grids in a row at batch 4
  and for one call at the batch dreamloom forms, and dreamloom's images/s for ``--jobs``
  queued jobs. A markdown table, then one JSON line of the figures and ratios.
* ``--simulated-gpu-ms MS``: the real service on the simulated GPU (``simulated-gpu:MS``, a
  wait that holds no lock: MS per batch of 4 images, MS * (0.5 + n/8) for n) and everything
  else real: the lone grid's end-to-end time over MS, and completed grids per second over the
  simulated GPU's capacity (1000/MS grids/s at batch 4) for ``--jobs`` jobs queued at once,
  without cross-job batching (``batch_images=4``) and with it (16). Its last line is JSON:
  ``{"simulated_gpu_ms": MS, "lone_e2e_ratio": R, "throughput_ratio": T,
  "batched_throughput_ratio": B}``.

    python bench/bench_imagine.py --model tiny --runs 5
    python bench/bench_imagine.py --model sd-turbo-sized --runs 5    # two copies, ~3.5 GB each
    python bench/bench_imagine.py --simulated-gpu-ms 400             # ~1 minute on 2 cores
    python bench/bench_imagine.py --device cuda                      # a GPU, no network needed
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
# The plan of the bench's accounts: the largest, so that its limits bind as little as they can.
PLAN = "mega"
# Images per batch without cross-job batching (a grid runs alone) and with it (the size the
# setting picks on cuda when left automatic).
ALONE_BATCH = 4
CROSS_JOB_BATCH = 16
WAIT_S = 900.0


# -- the service --------------------------------------------------------------------------------


def settings_for(data_dir: Path, model: str, *, device: str = "cpu", **wanted: Any) -> Settings:
    """One worker (one model copy on one device) with everything else as deployed, but
    ``wanted``."""
    return Settings(data_dir=data_dir, model=model, device=device, workers=1, **wanted)


def end_to_end(service: Service, account: AccountView, seed: int) -> float:
    """Submit through the queue and wait for the stored grid and singles."""
    start = time.perf_counter()
    (job,) = service.submit_imagine(account, f"{PROMPT} --seed {seed}")
    done = service.wait(job.id, timeout=WAIT_S)
    elapsed = time.perf_counter() - start
    assert done.status == "completed", done.error
    assert len(done.images) == 5
    return elapsed


@dataclass
class Crowd:
    """Accounts enough to have ``jobs`` jobs queued at once within every default limit."""

    accounts: list[AccountView]
    limit: str  # which limit applies, in words

    def __len__(self) -> int:
        return len(self.accounts)


def crowd_for(service: Service, jobs: int, seed: int) -> Crowd:
    """A mega account may hold only so many image jobs at once: its default lane (channel)
    caps active jobs (``channel_max_jobs``, 15, and 12 of one type, the useapi reference's
    ranges), and its plan caps running fast jobs (12) and waiting submissions (10). Rather than
    loosen any of that, the queued jobs come from as many accounts as it takes (a team's
    server), each within its limits. The first account's warm-up job loads the model in the
    worker and makes its lane, which is then read."""
    plan = service.plans.get(PLAN)
    first = service.ensure_user("bench-0", plan=PLAN)
    end_to_end(service, first, seed)
    (lane,) = service.list_channels(first)
    per_account = min(lane.max_image_jobs, plan.concurrency + plan.queue_depth)
    count = math.ceil(jobs / per_account)
    accounts = [first] + [service.ensure_user(f"bench-{i}", plan=PLAN) for i in range(1, count)]
    limit = (
        f"a {PLAN} account holds at most {per_account} image jobs at once (its default lane "
        f"{lane.max_image_jobs} image jobs of {lane.max_jobs}; its plan in fast mode "
        f"{plan.concurrency} running + {plan.queue_depth} waiting): {jobs} jobs come from "
        f"{count} accounts, at most {math.ceil(jobs / count)} each, fast mode"
    )
    return Crowd(accounts, limit)


def queued(service: Service, crowd: Crowd, jobs: int, seed: int) -> float:
    """Seconds from submitting ``jobs`` jobs at once (round-robin over the crowd, admitted
    together: ``queue_imagine`` does not wait for admission) to the last one completed."""
    start = time.perf_counter()
    futures = [
        service.queue_imagine(crowd.accounts[i % len(crowd)], f"{PROMPT} --seed {seed + 1 + i}")
        for i in range(jobs)
    ]
    ids = [job.id for future in futures for job in future.result()]
    for job_id in ids:
        done = service.wait(job_id, timeout=WAIT_S)
        assert done.status == "completed", f"{job_id}: {done.status} {done.error}"
        assert done.mode == "fast", done.mode
    return time.perf_counter() - start


# -- --simulated-gpu-ms ----------------------------------------------------------------------


def simulated(ms: float, jobs: int, lone_runs: int, seed: int) -> dict[str, Any]:
    """The lone grid and the queued throughput on ``simulated-gpu:MS``; a fresh service (and
    data directory) per batch setting, each warmed up first."""
    model = f"simulated-gpu:{ms:g}"
    capacity = 1000.0 / ms  # grids per second at batch 4
    print(
        f"simulated GPU {model}: {ms:g} ms per batch of 4 images, ms x (0.5 + n/8) for n; "
        f"capacity {capacity:.3f} grids/s at batch 4"
    )
    lone: list[float] = []
    rates: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (ALONE_BATCH, CROSS_JOB_BATCH):
            settings = settings_for(Path(tmp) / f"data-{batch}", model, batch_images=batch)
            with Service(settings) as service:
                crowd = crowd_for(service, jobs, seed)
                if batch == ALONE_BATCH:
                    print(
                        f"service: {settings.workers} worker, device {settings.device}, "
                        f"runner {settings.runner}, worker_queue {settings.worker_queue}, "
                        f"image moderation at {settings.image_moderation_threshold}"
                    )
                    print(f"limit: {crowd.limit}")
                    # Each lone job is submitted with the queue empty (the last one is done).
                    lone = [end_to_end(service, crowd.accounts[0], seed) for _ in range(lone_runs)]
                    median = statistics.median(lone)
                    print(
                        f"lone grid end to end: median {median:.3f} s = "
                        f"{median * 1000 / ms:.2f} x MS  runs {[round(t, 3) for t in lone]}"
                    )
                    unfiltered = lone_without_output_filter(Path(tmp), model, seed, lone_runs)
                    print(
                        f"  the same without the output filter (open_nsfw on each image, CPU): "
                        f"{unfiltered * 1000 / ms:.2f} x MS"
                    )
                elapsed = queued(service, crowd, jobs, seed)
                rates[batch] = jobs / elapsed
                print(
                    f"{jobs} queued jobs, batch_images={batch}: {elapsed:.2f} s, "
                    f"{rates[batch]:.3f} grids/s = {rates[batch] / capacity:.3f} x capacity"
                )
    return {
        "simulated_gpu_ms": int(ms) if ms.is_integer() else ms,
        "lone_e2e_ratio": round(statistics.median(lone) * 1000 / ms, 3),
        "throughput_ratio": round(rates[ALONE_BATCH] / capacity, 3),
        "batched_throughput_ratio": round(rates[CROSS_JOB_BATCH] / capacity, 3),
    }


def lone_without_output_filter(root: Path, model: str, seed: int, runs: int) -> float:
    """The lone grid's median with moderation off: what the output filter's CPU time adds to
    a lone job, where nothing can overlap it."""
    settings = settings_for(root / "data-unfiltered", model, image_moderation_threshold=2.0)
    with Service(settings) as service:
        account = service.ensure_user("bench-unfiltered", plan=PLAN)
        end_to_end(service, account, seed)  # loads the model
        return statistics.median(end_to_end(service, account, seed) for _ in range(runs))


# -- a real model: the default mode and --device -----------------------------------------------


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
    """``pipeline(...)`` on the same model and the recipe's own settings, in this process,
    loaded as dreamloom loads it (fp16 on cuda, fp32 elsewhere)."""

    def __init__(self, folder: Path, seed: int, device: str = "cpu") -> None:
        from dreamloom.engine.backends.diffusers import DiffusersBackend

        info = model_info(str(folder))
        recipe = recipe_for_imagine(parse_prompt(f"{PROMPT} --seed {seed}")[0], info, seed)
        self.seed = seed
        self.batch = recipe.batch
        self.device = device
        self.pipe = DiffusersBackend.from_pretrained(folder, info=info, device=device).pipeline
        self.kwargs: dict[str, Any] = {
            "prompt": PROMPT,
            "num_inference_steps": recipe.steps,
            "guidance_scale": recipe.guidance,
            "width": recipe.width,
            "height": recipe.height,
        }

    def run(self, images: int | None = None) -> float:
        """Seconds for one call making ``images`` PIL images (the recipe's batch: a grid)."""
        import torch

        count = images or self.batch
        generator = torch.Generator().manual_seed(self.seed)
        start = time.perf_counter()
        with torch.inference_mode():
            made = self.pipe(generator=generator, num_images_per_prompt=count, **self.kwargs)
        elapsed = time.perf_counter() - start  # PIL images are on the CPU: the device is done
        assert len(made.images) == count
        return elapsed


def measure(
    folder: Path, root: Path, seed: int, runs: int
) -> tuple[list[float], list[float], dict[str, Any]]:
    """Bare and end-to-end runs taken in turns, after one warm-up of each (caches, and the
    worker loading the model): a machine that slows down or speeds up over the minutes a
    large model takes affects both sides alike."""
    bare = BarePipeline(folder, seed)
    settings = Settings(data_dir=root / "data", model=str(folder), workers=1)
    with Service(settings) as service:
        account = service.ensure_user("bench", plan=PLAN)
        bare.run()
        end_to_end(service, account, seed)
        bare_times, e2e_times = alternate(bare, service, account, seed, runs)
    return bare_times, e2e_times, bare.kwargs


def alternate(
    bare: BarePipeline, service: Service, account: AccountView, seed: int, runs: int
) -> tuple[list[float], list[float]]:
    bare_times: list[float] = []
    e2e_times: list[float] = []
    for _ in range(runs):
        bare_times.append(bare.run())
        e2e_times.append(end_to_end(service, account, seed))
    return bare_times, e2e_times


def default_mode(args: argparse.Namespace) -> None:
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


def resolved_batch(requested: int, device: str) -> int:
    """Images per batch as the ``batch_images`` setting resolves 0 (automatic): 16 on cuda,
    4 elsewhere."""
    if requested > 0:
        return requested
    return CROSS_JOB_BATCH if device.startswith("cuda") else ALONE_BATCH


def device_mode(args: argparse.Namespace) -> dict[str, Any]:
    """Issue 17's table on ``args.device``: both sides in this process, the bare pipeline
    and dreamloom's worker each with a copy of the model on the device."""
    # Everything is built in code: a machine without network must not wait for the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    device, seed = args.device, args.seed
    batch = resolved_batch(args.batch_images, device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = prepare_model(args.model, root)
        bare = BarePipeline(folder, seed, device)
        settings = settings_for(root / "data", str(folder), device=device, batch_images=batch)
        with Service(settings) as service:
            crowd = crowd_for(service, args.jobs, seed)  # its warm-up loads the worker's model
            print(f"limit: {crowd.limit}")
            bare.run()
            bare.run(batch)  # the larger batch's first call allocates
            bare_times, e2e_times = alternate(bare, service, crowd.accounts[0], seed, args.runs)
            started = time.perf_counter()
            for _ in range(args.grids):
                bare.run()
            bare_rows = args.grids * bare.batch / (time.perf_counter() - started)
            bare_batched = batch / statistics.median(bare.run(batch) for _ in range(args.runs))
            elapsed = queued(service, crowd, args.jobs, seed)
            dreamloom_rate = args.jobs * bare.batch / elapsed
    b, e = statistics.median(bare_times), statistics.median(e2e_times)
    kwargs = bare.kwargs
    print(
        f"\n{args.model} on {device}: {kwargs['width']}x{kwargs['height']}, "
        f"{kwargs['num_inference_steps']} step(s), guidance {kwargs['guidance_scale']}; "
        f"{args.runs} alternating runs, medians\n"
    )
    print("| | per grid | images/s |")
    print("|---|---|---|")
    print(
        f"| bare `pipeline(...)` → 4 PIL images | {b * 1000:.1f} ms | "
        f"{bare_rows:.1f} ({args.grids} grids in a row) |"
    )
    print(f"| bare, one call of {batch} images | | {bare_batched:.1f} |")
    print(
        f"| dreamloom imagine end to end, 1 worker | {e * 1000:.1f} ms (**{e / b:.2f}×**) | "
        f"{dreamloom_rate:.1f} ({args.jobs} queued jobs) |"
    )
    print()
    return {
        "device": device,
        "model": args.model,
        "batch_images": batch,
        "bare_grid_ms": round(b * 1000, 1),
        "e2e_grid_ms": round(e * 1000, 1),
        "lone_e2e_ratio": round(e / b, 3),
        "bare_batch4_images_per_s": round(bare_rows, 2),
        "bare_batched_images_per_s": round(bare_batched, 2),
        "queued_images_per_s": round(dreamloom_rate, 2),
        "queued_vs_bare_batch4": round(dreamloom_rate / bare_rows, 3),
        "queued_vs_bare_batched": round(dreamloom_rate / bare_batched, 3),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--simulated-gpu-ms",
        type=float,
        metavar="MS",
        help="the service on a simulated GPU taking MS per batch of 4 images",
    )
    mode.add_argument(
        "--device", help="issue 17's table on this device (cuda, cpu), bare vs dreamloom"
    )
    parser.add_argument("--model", choices=["tiny", "sd-turbo-sized"], default=None)
    parser.add_argument("--runs", type=int, default=5, help="alternating bare/end-to-end pairs")
    parser.add_argument("--lone-runs", type=int, default=5, help="lone grids (simulated GPU)")
    parser.add_argument("--jobs", type=int, default=None, help="jobs queued at once")
    parser.add_argument("--grids", type=int, default=16, help="bare grids in a row (--device)")
    parser.add_argument(
        "--batch-images", type=int, default=0, help="--device: images per batch (0: automatic)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.simulated_gpu_ms is not None:
        if args.simulated_gpu_ms <= 0:
            parser.error("--simulated-gpu-ms must be positive")
        jobs = args.jobs or 30
        print(json.dumps(simulated(args.simulated_gpu_ms, jobs, args.lone_runs, args.seed)))
    elif args.device is not None:
        args.model = args.model or "sd-turbo-sized"
        args.jobs = args.jobs or 24
        print(json.dumps(device_mode(args)))
    else:
        args.model = args.model or "tiny"
        default_mode(args)


if __name__ == "__main__":
    main()
