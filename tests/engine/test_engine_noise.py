from __future__ import annotations

import itertools

import pytest
import torch

from dreamloom.engine.noise import derive_seed, image_seeds, initial_latents, perturb


def _mean_correlation(latents: torch.Tensor) -> float:
    flat = latents.flatten(1)
    pairs = itertools.combinations(range(len(flat)), 2)
    return float(
        torch.stack([torch.corrcoef(torch.stack([flat[i], flat[j]]))[0, 1] for i, j in pairs])
        .mean()
        .item()
    )


def test_image_seeds_are_deterministic_distinct_and_32_bit() -> None:
    seeds = image_seeds(42, 4)
    assert seeds == image_seeds(42, 4)
    assert len(set(seeds)) == 4
    assert all(0 <= s < 2**32 for s in seeds)
    assert seeds != image_seeds(43, 4)
    assert derive_seed(42, "a") != derive_seed(42, "b")


def test_latents_have_unit_variance_at_every_chaos() -> None:
    seeds = image_seeds(7, 4)
    for chaos in (0.0, 0.5, 1.0):
        latents = initial_latents(7, seeds, (4, 16, 16), chaos)
        assert latents.shape == (4, 4, 16, 16)
        assert torch.allclose(latents.flatten(1).std(dim=1), torch.ones(4), atol=1e-5)


def test_chaos_lowers_the_correlation_inside_a_batch() -> None:
    seeds = image_seeds(7, 4)
    corr = [_mean_correlation(initial_latents(7, seeds, (4, 32, 32), c)) for c in (0, 0.5, 1)]
    assert corr[0] > corr[1] > corr[2]
    assert 0.3 < corr[0] < 0.9  # chaos 0: related, not copies
    assert abs(corr[2]) < 0.05  # chaos 1: independent


def test_perturb_is_zero_at_weird_zero_and_grows_with_weird() -> None:
    torch.manual_seed(0)
    embeds = torch.randn(1, 77, 32)
    seeds = image_seeds(3, 4)
    assert torch.equal(perturb(embeds, seeds, 0.0), embeds.expand(4, 77, 32))
    spread = [float((perturb(embeds, seeds, w) - embeds).abs().mean()) for w in (0.1, 0.5, 1.0)]
    assert spread == sorted(spread) and spread[0] > 0
    # Each image of the batch gets its own direction.
    batch = perturb(embeds, seeds, 1.0)
    assert not torch.allclose(batch[0], batch[1])


@pytest.mark.parametrize("label", ["weird", "pooled"])
def test_perturb_is_deterministic(label: str) -> None:
    embeds = torch.randn(1, 5, 8, generator=torch.Generator().manual_seed(1))
    seeds = image_seeds(3, 2)
    first = perturb(embeds, seeds, 0.7, label)
    assert torch.equal(first, perturb(embeds, seeds, 0.7, label))
    assert not torch.equal(first, perturb(embeds, seeds, 0.7, label + "-other"))
