"""Seeds and the randomness of a batch: per-image seeds, chaos in the initial latents, weird
in the conditioning. Everything is drawn on the CPU so a seed gives the same numbers on any
device.
"""

from __future__ import annotations

import hashlib

import torch

SEED_SPACE = 2**32

# Chaos 0 still gives every image its own noise at this share (by amplitude), so the four images
# of a default grid are related variations rather than copies; chaos 1 gives independent noise.
MIN_INDIVIDUAL = 0.7
# At weird 1 (`--weird 3000`) the per-token perturbation has this share of the token's spread.
WEIRD_MAX = 0.6


def derive_seed(seed: int, *labels: object) -> int:
    """A seed for one purpose (image index, sampler noise, ...) of one job seed.

    Hashing instead of `seed + i` keeps the streams of neighbouring job seeds apart.
    """
    text = ":".join(str(part) for part in (seed, *labels))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def image_seeds(seed: int, count: int) -> list[int]:
    return [derive_seed(seed, "image", index) for index in range(count)]


def _randn(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float32)


def chaos_share(chaos: float) -> float:
    """Amplitude share of per-image noise: monotone from MIN_INDIVIDUAL (chaos 0) to 1."""
    return MIN_INDIVIDUAL + (1.0 - MIN_INDIVIDUAL) * min(max(chaos, 0.0), 1.0)


def initial_latents(
    seed: int, seeds: list[int], shape: tuple[int, ...], chaos: float
) -> torch.Tensor:
    """Batch of unit-variance latents: a component shared by the batch plus per-image noise.

    `shape` is one image's latent shape (channels, height, width). The mix
    sqrt(1 - a^2) * shared + a * own has unit variance in expectation; each latent is then
    rescaled to unit standard deviation exactly, because samplers assume it.
    """
    share = chaos_share(chaos)
    shared = _randn(shape, derive_seed(seed, "shared"))
    latents = []
    for image_seed in seeds:
        mixed = (1.0 - share**2) ** 0.5 * shared + share * _randn(shape, image_seed)
        latents.append(mixed / mixed.std())
    return torch.stack(latents)


def perturb(
    embeds: torch.Tensor, seeds: list[int], weird: float, label: str = "weird"
) -> torch.Tensor:
    """Repeat one conditioning (1, ..., dim) for each seed, each copy shifted in its own
    random direction of the embedding space.

    One direction for all tokens of a copy, because cross-attention averages over tokens:
    independent per-token noise would cancel out and change nothing. The shift is scaled per
    token by that token's spread, so large activations are not drowned and small ones not left
    untouched. Weird 0 returns exact copies; `label` keeps the noise of different tensors
    (SDXL's pooled embedding) apart.
    """
    batch = embeds.expand(len(seeds), *embeds.shape[1:]).clone()
    if weird <= 0:
        return batch
    amount = WEIRD_MAX * min(weird, 1.0) ** 0.5
    spread = embeds[0].float().std(dim=-1, keepdim=True).cpu()
    for index, image_seed in enumerate(seeds):
        direction = _randn((embeds.shape[-1],), derive_seed(image_seed, label))
        delta = amount * spread * direction
        batch[index] += delta.to(device=embeds.device, dtype=embeds.dtype)
    return batch
