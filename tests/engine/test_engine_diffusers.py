"""The diffusers backend on the tiny random pipeline: every feature through the real path."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from dreamloom.engine import (
    Backend,
    Cancelled,
    EngineResult,
    Progress,
    PromptPart,
    Recipe,
    make_grid,
)
from dreamloom.engine.backends.diffusers import DiffusersBackend


def _pixels(result: EngineResult) -> np.ndarray:
    return np.stack([np.asarray(image, dtype=np.float64) for image in result.images])


def _mean_pairwise_distance(result: EngineResult) -> float:
    images = _pixels(result)
    pairs = itertools.combinations(range(len(images)), 2)
    return float(np.mean([np.abs(images[i] - images[j]).mean() for i, j in pairs]))


def _difference(a: EngineResult, b: EngineResult) -> float:
    return float(np.abs(_pixels(a) - _pixels(b)).mean())


def test_load_backend_tiny_goes_through_from_pretrained(tiny_backend: Backend) -> None:
    assert isinstance(tiny_backend, DiffusersBackend)
    assert type(tiny_backend.pipeline).__name__ == "StableDiffusionPipeline"
    assert tiny_backend.info.name == "tiny"
    assert tiny_backend.info.native_size == 64
    assert tiny_backend.info.multiple == 8


def test_one_seed_gives_four_reproducible_images_and_a_grid(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    first = tiny_backend.run(recipe())
    again = tiny_backend.run(recipe())
    assert len(first.images) == 4 and len(first.seeds) == 4
    assert all(image.size == (64, 64) and image.mode == "RGB" for image in first.images)
    assert np.array_equal(_pixels(first), _pixels(again))
    assert first.seeds == again.seeds and len(set(first.seeds)) == 4
    assert first.compute_seconds > 0
    assert make_grid(first.images).size == (128, 128)
    # The four images of a grid are different pictures.
    assert _mean_pairwise_distance(first) > 5


def test_different_seeds_give_different_images(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    a, b = tiny_backend.run(recipe(seed=1)), tiny_backend.run(recipe(seed=2))
    assert a.seeds != b.seeds
    assert _difference(a, b) > 5


@pytest.mark.parametrize("size", [(96, 48), (48, 96), (72, 40)])
def test_images_have_the_recipe_size(
    tiny_backend: Backend, recipe: Callable[..., Recipe], size: tuple[int, int]
) -> None:
    result = tiny_backend.run(recipe(width=size[0], height=size[1], steps=2))
    assert [image.size for image in result.images] == [size] * 4


def test_chaos_increases_diversity_inside_the_grid(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    distance = [_mean_pairwise_distance(tiny_backend.run(recipe(chaos=c))) for c in (0, 0.5, 1)]
    assert 0 < distance[0] < distance[1] < distance[2]
    assert distance[2] > 1.2 * distance[0]


def test_weird_increases_diversity_inside_the_grid(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    distance = [_mean_pairwise_distance(tiny_backend.run(recipe(weird=w))) for w in (0, 0.5, 1)]
    assert distance[0] < distance[1] < distance[2]


def test_negative_conditioning_changes_the_output(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    plain = tiny_backend.run(recipe())
    negative = tiny_backend.run(recipe(negative=(PromptPart("fog", 0.5),)))
    other = tiny_backend.run(recipe(negative=(PromptPart("fog", 0.5), PromptPart("birds", 1.0))))
    assert _difference(plain, negative) > 0.5
    assert _difference(negative, other) > 0.1


def test_part_weights_change_the_output(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    def parts(weight: float) -> tuple[PromptPart, ...]:
        return (PromptPart("a lighthouse"), PromptPart("a storm at sea", weight))

    even = tiny_backend.run(recipe(positive=parts(1.0)))
    stormy = tiny_backend.run(recipe(positive=parts(3.0)))
    assert _difference(even, stormy) > 0.1


def test_guidance_changes_the_output(tiny_backend: Backend, recipe: Callable[..., Recipe]) -> None:
    low, high = tiny_backend.run(recipe(guidance=4.5)), tiny_backend.run(recipe(guidance=12.0))
    assert _difference(low, high) > 0.5


def _steps_seen(backend: Backend, recipe: Recipe) -> tuple[EngineResult, list[Progress]]:
    seen: list[Progress] = []
    return backend.run(recipe, progress=seen.append), seen


def test_progress_reports_every_step_with_occasional_small_previews(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    _, seen = _steps_seen(tiny_backend, recipe(steps=8))
    assert [p.step for p in seen] == list(range(1, 9))
    assert {p.total for p in seen} == {8}
    previews = [p.preview for p in seen if p.preview is not None]
    assert 2 <= len(previews) < len(seen)
    # A grid of latent-resolution images: 8x8 latents per 64 px image.
    assert all(isinstance(p, Image.Image) and p.size == (16, 16) for p in previews)


def test_steps_change_output_and_step_count(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    few, few_seen = _steps_seen(tiny_backend, recipe(steps=3))
    many, many_seen = _steps_seen(tiny_backend, recipe(steps=6))
    assert (len(few_seen), len(many_seen)) == (3, 6)
    assert _difference(few, many) > 1


def test_stop_ends_early_and_decodes_the_current_estimate(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    full, full_seen = _steps_seen(tiny_backend, recipe(steps=8))
    half, half_seen = _steps_seen(tiny_backend, recipe(steps=8, stop_fraction=0.5))
    early, early_seen = _steps_seen(tiny_backend, recipe(steps=8, stop_fraction=0.25))
    assert [p.step for p in half_seen] == [1, 2, 3, 4] and half_seen[-1].total == 4
    assert len(early_seen) == 2 and len(full_seen) == 8
    # The earlier the stop, the further from the finished picture.
    assert 0 < _difference(half, full) < _difference(early, full)


def test_cancellation_stops_between_steps(
    tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    seen: list[Progress] = []
    with pytest.raises(Cancelled) as raised:
        tiny_backend.run(recipe(steps=8), progress=seen.append, cancelled=lambda: len(seen) >= 3)
    assert raised.value.step == 4
    assert len(seen) == 3
    with pytest.raises(Cancelled):
        tiny_backend.run(recipe(), cancelled=lambda: True)
    # The pipeline is usable afterwards and unchanged.
    assert len(tiny_backend.run(recipe(steps=2)).images) == 4


def _seams(result: EngineResult) -> tuple[float, float, float]:
    """Over all images and both axes: (mean wrap-around difference / mean neighbour difference,
    correlation of last with first column, mean correlation of neighbouring columns).

    The correlation says whether the content continues across the seam. On a random model the
    raw difference alone barely tells the two cases apart, because zero padding pulls both
    borders towards the same value whether or not the content continues."""
    seams, interior, seam_corr, interior_corr = [], [], [], []
    for image in _pixels(result):
        grey = image.mean(axis=2)
        for plane in (grey, grey.T):
            seams.append(np.abs(plane[:, -1] - plane[:, 0]).mean())
            interior.append(np.abs(np.diff(plane, axis=1)).mean())
            seam_corr.append(np.corrcoef(plane[:, -1], plane[:, 0])[0, 1])
            columns = range(plane.shape[1] - 1)
            interior_corr.append(
                np.mean([np.corrcoef(plane[:, j], plane[:, j + 1])[0, 1] for j in columns])
            )
    return (
        float(np.mean(seams) / np.mean(interior)),
        float(np.mean(seam_corr)),
        float(np.mean(interior_corr)),
    )


def test_tile_makes_edges_meet(tiny_backend: Backend, recipe: Callable[..., Recipe]) -> None:
    _, plain_corr, plain_interior = _seams(tiny_backend.run(recipe(width=128, height=128)))
    tiled = tiny_backend.run(recipe(width=128, height=128, tile=True))
    tiled_ratio, tiled_corr, tiled_interior = _seams(tiled)
    # Tiled: the seam is no worse than a step between neighbouring columns inside.
    assert tiled_ratio <= 1.05
    assert tiled_corr >= 0.9 * tiled_interior
    # Plain: content does not continue across the border.
    assert plain_corr < 0.3 < 0.7 < plain_interior
    # Padding is restored: a plain run after a tiled one is the plain run.
    assert _seams(tiny_backend.run(recipe(width=128, height=128)))[1] == plain_corr
