"""Training the bundled model: seeded, resumable, and small enough for a 2-core CPU.

Two phases share one checkpoint file (`checkpoint.pt` in the output folder):
1. the generator, a rectified flow: x_t = (1 - t) x + t noise, the network predicts x (see
   `model.predict_clean`) with a plain squared error,
   with the caption dropped (10%) for classifier-free guidance and reduced to its sentence
   vector (10%) so that an image embedding can condition it alone;
2. the image encoder, contrastively against the captions' sentence vectors (InfoNCE) and
   against the plain concept names, so describe and search can retrieve concepts. Half of each
   batch has its colour channels rotated: the concept must be read from the shape, since a
   caption's colour word can be any colour.
The phases draw from separate seeded random streams, so either can be rerun alone.
The exported weights (EMA of the generator) are written with `save_pretrained`/safetensors.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from dreamloom.bundled.model import ImageEncoder, build_unet, predict_clean
from dreamloom.bundled.text import condition

CHECKPOINT = "checkpoint.pt"
# The published weights: 24,000 generator steps of 32 pictures (two rate cycles) and 1,200
# encoder steps of 128, trained with two threads (77 + 78 minutes on an idle 2-core Xeon: the
# 12,000-step run, then resumed; sums, hence the bytes, differ between thread counts). Held-out
# concept accuracy (bench_bundled) grew with the steps: 4,000 0.036, 12,000 0.365, 24,000 0.521.
DEFAULT_STEPS = 24000
DEFAULT_ENCODER_STEPS = 1200
# One intra-op thread: on a 2-core machine shared with other work, two threads measured 7x
# slower per step (OpenMP threads spin waiting for a core); a GPU or an idle machine can raise it.
DEFAULT_THREADS = 1
NPM_PACKAGES = ("emoji-datasource-google@16.0.0", "fluentui-emoji@1.3.0")
CHECKPOINT_EVERY = 100
# The generator's learning rate runs in cosine cycles of this many steps (warm restarts), so a
# finished run extended to more steps follows the same schedule as the longer run from scratch.
CYCLE_STEPS = 12000
EMA_DECAY = 0.995
ENCODER_LR = 2e-3


@dataclass
class Data:
    images: torch.Tensor  # (N, 3, 32, 32) in [-1, 1]
    caption: torch.Tensor  # (N,) index into the caption arrays
    concept: torch.Tensor  # (N,)
    tokens: torch.Tensor  # (C, L, 384) float16
    mask: torch.Tensor  # (C, L)
    pooled: torch.Tensor  # (C, 384)
    empty: int  # index of the empty caption
    concept_vectors: torch.Tensor  # (K, 384)


def load_data(data_dir: Path) -> Data:
    samples = np.load(data_dir / "samples.npz")
    captions = np.load(data_dir / "captions.npz")
    meta = json.loads((data_dir / "meta.json").read_text(encoding="utf-8"))
    images = torch.from_numpy(samples["images"]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return Data(
        images=images,
        caption=torch.from_numpy(samples["caption"]).long(),
        concept=torch.from_numpy(samples["concept"]).long(),
        tokens=torch.from_numpy(captions["tokens"]),
        mask=torch.from_numpy(captions["mask"]).float(),
        pooled=torch.from_numpy(captions["pooled"]).float(),
        empty=meta["captions"].index(""),
        concept_vectors=torch.from_numpy(np.load(data_dir / "concept_vectors.npy")).float(),
    )


def _conditions(
    data: Data, idx: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    caps = data.caption[idx].clone()
    roll = torch.rand(len(idx), generator=gen)
    caps[roll < 0.1] = data.empty
    tokens = data.tokens[caps].float()
    mask = data.mask[caps].clone()
    pooled_only = (roll >= 0.1) & (roll < 0.2)
    tokens[pooled_only] = 0.0
    mask[pooled_only] = 0.0
    return condition(tokens, mask, data.pooled[caps])


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    # Write then rename, so an interrupted save never leaves a broken checkpoint behind.
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train(
    data_dir: Path,
    out_dir: Path,
    *,
    steps: int,
    seed: int = 0,
    resume: bool = True,
    batch: int = 32,
    encoder_steps: int | None = None,
    encoder_batch: int = 128,
    lr: float = 6e-4,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Train both networks on `device` and export them into `out_dir/weights`; returns that
    folder. Batches are drawn on the CPU from the seeded streams and moved to `device`, so a
    run's random choices are the same on every device (the arithmetic may differ slightly)."""
    say = progress or _print
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    random.seed(seed)
    data = load_data(data_dir)
    if encoder_steps is None:
        # The encoder is trained once, in the first cycle: a run extended by more cycles keeps it.
        encoder_steps = max(
            1, min(DEFAULT_ENCODER_STEPS, round(steps * DEFAULT_ENCODER_STEPS / CYCLE_STEPS))
        )

    dev = torch.device(device)
    unet = build_unet().to(dev)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.01)
    encoder = ImageEncoder().to(dev)
    concept_vectors = data.concept_vectors.to(dev)
    enc_opt = torch.optim.AdamW(encoder.parameters(), lr=ENCODER_LR, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    enc_gen = torch.Generator().manual_seed(seed + 1)
    step, enc_step = 0, 0
    ckpt = out_dir / CHECKPOINT
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location=dev, weights_only=False)
        unet.load_state_dict(state["unet"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        encoder.load_state_dict(state["encoder"])
        enc_opt.load_state_dict(state["enc_opt"])
        gen.set_state(state["gen"].cpu())
        enc_gen.set_state(state["enc_gen"].cpu())
        step, enc_step = state["step"], state["enc_step"]
        _check_schedule(lr, step, state.get("steps", steps), steps)
        say(f"resumed at generator step {step}, encoder step {enc_step}")

    def checkpoint() -> None:
        _save_checkpoint(
            ckpt,
            {
                "unet": unet.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                "encoder": encoder.state_dict(), "enc_opt": enc_opt.state_dict(),
                "gen": gen.get_state(), "enc_gen": enc_gen.get_state(),
                "step": step, "enc_step": enc_step, "steps": steps,
            },
        )  # fmt: skip

    started = time.monotonic()
    unet.train()
    while step < steps:
        idx = torch.randint(0, len(data.images), (batch,), generator=gen)
        clean = data.images[idx]
        # Mirror pictures without a side in the caption would be wrong; keep them as they are.
        cond, mask = _conditions(data, idx, gen)
        noise = torch.randn(clean.shape, generator=gen)
        t = torch.sigmoid(torch.randn(batch, generator=gen) * 1.0)
        noisy = (1 - t[:, None, None, None]) * clean + t[:, None, None, None] * noise
        for group in opt.param_groups:
            group["lr"] = generator_lr(lr, step, steps)
        predicted = predict_clean(unet, noisy.to(dev), t.to(dev), cond.to(dev), mask.to(dev))
        loss = F.mse_loss(predicted, clean.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(EMA_DECAY, (1 + step) / (10 + step))
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), unet.parameters(), strict=True):
                p_ema.lerp_(p, 1 - decay)
        if step % 25 == 0 or step == steps:
            elapsed = time.monotonic() - started
            say(f"generator step {step}/{steps} loss {loss.item():.4f} ({elapsed:.0f}s)")
        if step % CHECKPOINT_EVERY == 0 or step == steps:
            checkpoint()

    encoder.train()
    while enc_step < encoder_steps:
        for group in enc_opt.param_groups:
            group["lr"] = _warm_cosine(ENCODER_LR, enc_step, encoder_steps, warmup=100)
        loss = _encoder_loss(encoder, data, concept_vectors, enc_gen, encoder_batch)
        enc_opt.zero_grad(set_to_none=True)
        loss.backward()
        enc_opt.step()
        enc_step += 1
        if enc_step % 25 == 0 or enc_step == encoder_steps:
            elapsed = time.monotonic() - started
            say(f"encoder step {enc_step}/{encoder_steps} loss {loss.item():.4f} ({elapsed:.0f}s)")
        if enc_step % CHECKPOINT_EVERY == 0 or enc_step == encoder_steps:
            checkpoint()

    return export(ema.cpu(), encoder.cpu(), data_dir, out_dir / "weights")


def generator_lr(base: float, step: int, steps: int) -> float:
    """The generator's rate at `step` of a `steps`-long run: cosine cycles of CYCLE_STEPS, the
    last one cut to what remains. A run no longer than one cycle is a single cosine."""
    start = step - step % CYCLE_STEPS
    return _warm_cosine(base, step - start, min(CYCLE_STEPS, steps - start), warmup=50)


def _check_schedule(lr: float, done: int, planned: int, steps: int) -> None:
    """Refuse to resume where the new length would have given the steps already taken another
    learning rate: the result would match no run from scratch."""
    if any(generator_lr(lr, s, planned) != generator_lr(lr, s, steps) for s in range(done)):
        raise ValueError(
            f"the checkpoint's run was planned for {planned} steps; {steps} would change the "
            f"learning rate of the {done} steps it has taken (runs extend in whole cycles of "
            f"{CYCLE_STEPS}); give --steps {planned} or train into a fresh folder"
        )


def _warm_cosine(base: float, step: int, total: int, *, warmup: int) -> float:
    """The learning rate: a linear warm-up to `base`, then a cosine decay to zero."""
    return float(base * min(1.0, (step + 1) / warmup) * (0.5 + 0.5 * np.cos(np.pi * step / total)))


def _encoder_loss(
    encoder: ImageEncoder,
    data: Data,
    concept_vectors: torch.Tensor,
    gen: torch.Generator,
    batch: int,
) -> torch.Tensor:
    """InfoNCE against the captions' sentence vectors plus cross-entropy over the concepts
    (`concept_vectors`: the data's, on the encoder's device)."""
    dev = concept_vectors.device
    idx = torch.randint(0, len(data.images), (batch,), generator=gen)
    images, rotated = _rotate_colours(_degrade(data.images[idx], gen), gen)
    emb = encoder(images.to(dev))
    scale = encoder.logit_scale.exp().clamp(max=100)
    concept_loss = F.cross_entropy(scale * emb @ concept_vectors.T, data.concept[idx].to(dev))
    # A rotated picture no longer matches its caption's colour words: it only learns the
    # concept. Same caption twice in a batch is a positive, not a negative.
    caps = data.caption[idx][~rotated]
    if len(caps) == 0:
        return concept_loss
    same = (caps[:, None] == caps[None, :]).float().to(dev)
    logits = scale * emb[~rotated.to(dev)] @ data.pooled[caps].to(dev).T
    caption_loss = -(F.log_softmax(logits, dim=1) * same / same.sum(1, keepdim=True)).sum(1).mean()
    return caption_loss + concept_loss


def _rotate_colours(
    images: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate the RGB channels (by one or two) of a random half of the batch; returns the
    pictures and which were rotated. Without it the encoder learned colours as concepts: it
    recognised 17 % of its own training pictures and 3 % of recoloured held-out ones."""
    rotated = torch.rand(len(images), generator=gen) < 0.5
    shift = int(torch.randint(1, 3, (1,), generator=gen))
    out = torch.where(rotated[:, None, None, None], images.roll(shift, dims=1), images)
    return out, rotated


def _degrade(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Soften half of the batch the way few-step samples are soft, so the encoder also reads
    generated pictures, not only crisp artwork."""
    soft = F.interpolate(F.avg_pool2d(images, 2), scale_factor=2, mode="bilinear")
    noise = 0.08 * torch.randn(images.shape, generator=gen)
    pick = (torch.rand(len(images), generator=gen) < 0.5)[:, None, None, None]
    return torch.where(pick, soft + noise, images)


def export(unet: Any, encoder: ImageEncoder, data_dir: Path, folder: Path) -> Path:
    """Write the package folder: unet/ (diffusers format), image_encoder.safetensors, vocab."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    # float16 halves the package; the backend loads it back as float32 for the CPU.
    copy.deepcopy(unet).half().save_pretrained(folder / "unet", safe_serialization=True)
    tensors = {k: v.detach().half().contiguous() for k, v in encoder.state_dict().items()}
    save_file(tensors, str(folder / "image_encoder.safetensors"))
    meta = json.loads((data_dir / "meta.json").read_text(encoding="utf-8"))
    vocab = {
        "concepts": meta["concepts"],
        "styles": meta["styles"],
        "heldout": meta["heldout"],
    }
    (folder / "vocab.json").write_text(json.dumps(vocab, indent=1), encoding="utf-8")
    shutil.copy(data_dir / "concept_vectors.npy", folder / "concept_vectors.npy")
    return folder


def emoji_packages(data_dir: Path) -> Path:
    """The node_modules folder with the emoji packages: $DREAMLOOM_EMOJI_PACKAGES, or one
    installed with npm (the registry's ordinary client) into `data_dir/npm` on first use."""
    given = os.environ.get("DREAMLOOM_EMOJI_PACKAGES")
    if given:
        return Path(given)
    prefix = data_dir / "npm"
    modules = prefix / "node_modules"
    if not (modules / "emoji-datasource-google").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise FileNotFoundError(
                "the emoji artwork comes from npm packages; install npm or set "
                "DREAMLOOM_EMOJI_PACKAGES to a node_modules folder holding "
                + " ".join(NPM_PACKAGES)
            )
        subprocess.run(
            [npm, "install", "--no-save", "--prefix", str(prefix), *NPM_PACKAGES], check=True
        )
    return modules


def main(
    data_dir: Path,
    out_dir: Path,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    resume: bool = True,
    progress: Callable[[str], None] | None = None,
    threads: int = DEFAULT_THREADS,
    device: str = "cpu",
    batch: int = 32,
    encoder_steps: int | None = None,
) -> Path:
    """Entry point for `dreamloom train bundled`: build the dataset if `data_dir` has none,
    then train into `out_dir` on `device`; returns the exported weights folder
    (`out_dir/weights`)."""
    from dreamloom.bundled.dataset import build_dataset

    torch.set_num_threads(threads)
    # Tiny weights and EMA updates underflow into denormal floats, which the CPU handles tens
    # of times slower: training slowed from 0.7 to 2.8 s a step within 75 steps without this.
    torch.set_flush_denormal(True)
    if not (data_dir / "meta.json").exists():
        build_dataset(data_dir, node_modules=emoji_packages(data_dir), seed=seed, progress=progress)
    return train(
        data_dir,
        out_dir,
        steps=steps,
        seed=seed,
        resume=resume,
        batch=batch,
        encoder_steps=encoder_steps,
        device=device,
        progress=progress,
    )


def install(weights: Path, package_dir: Path | None = None) -> Path:
    """Copy exported weights over the packaged ones (what a maintainer commits)."""
    from dreamloom.bundled.pipeline import PACKAGE_WEIGHTS

    target = package_dir or PACKAGE_WEIGHTS
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(weights, target)
    return target


def _print(message: str) -> None:
    print(message, flush=True)
