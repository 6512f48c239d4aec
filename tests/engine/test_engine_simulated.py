"""The simulated GPU (``simulated-gpu:MS``), the benchmarks' stand-in for a fast device: its
pictures, its timing shape, batches with a cancelled member, and every operation."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

from dreamloom.engine import (
    Cancelled,
    EngineResult,
    Progress,
    PromptPart,
    Recipe,
    load_backend,
    model_info,
)
from dreamloom.engine.backends.base import BatchMember
from dreamloom.engine.backends.simulated import SimulatedGpuBackend, batch_seconds, photo_image
from dreamloom.engine.images import png_bytes
from dreamloom.engine.operations import (
    recipe_for_outpaint,
    recipe_for_region,
    recipe_for_upscale,
    recipe_for_variation,
)

MS = 100.0
REF = f"simulated-gpu:{MS:g}"


def _recipe(seed: int = 1, **changes: Any) -> Recipe:
    values: dict[str, Any] = {
        "model": REF,
        "width": 512,
        "height": 512,
        "seed": seed,
        "steps": 1,
        "guidance": 0.0,
        "positive": (PromptPart("a lighthouse at dusk"),),
    }
    values.update(changes)
    return Recipe(**values)


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> SimulatedGpuBackend:
    loaded = load_backend(REF, cache_dir=tmp_path_factory.mktemp("models"))
    assert isinstance(loaded, SimulatedGpuBackend)
    return loaded


def _digest(image: Image.Image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def test_the_reference_names_sd_turbo_like_facts() -> None:
    info = model_info("simulated-gpu:400")
    assert (info.name, info.native_size, info.multiple) == ("simulated-gpu:400", 512, 8)
    assert (info.default_steps, info.default_guidance, info.supports_negative) == (1, 0.0, False)


@pytest.mark.parametrize("ref", ["simulated-gpu:", "simulated-gpu:fast", "simulated-gpu:-5"])
def test_a_malformed_reference_is_refused(ref: str) -> None:
    with pytest.raises(ValueError, match="simulated-gpu:MS"):
        model_info(ref)


def test_the_wait_has_the_h200_shape() -> None:
    assert batch_seconds(400, 4) == pytest.approx(0.4)
    assert batch_seconds(400, 16) == pytest.approx(1.0)
    assert batch_seconds(400, 4, steps=2) == pytest.approx(0.8)


def test_a_seed_gives_its_own_image_every_time(backend: SimulatedGpuBackend) -> None:
    first, again = backend.run(_recipe(seed=7)), backend.run(_recipe(seed=7))
    other = backend.run(_recipe(seed=8))
    assert [_digest(i) for i in first.images] == [_digest(i) for i in again.images]
    assert first.seeds == again.seeds
    digests = {_digest(i) for i in (*first.images, *other.images)}
    assert len(digests) == 8  # four images per grid, none repeated within or across grids
    assert all(image.size == (512, 512) and image.mode == "RGB" for image in first.images)


def test_images_are_the_same_in_another_process(backend: SimulatedGpuBackend) -> None:
    # The pool is drawn from a fixed seed: a worker process must make the same pictures.
    code = (
        "import hashlib; from dreamloom.engine.backends.simulated import photo_image; "
        "print(hashlib.sha256(photo_image(12345, 640, 384).tobytes()).hexdigest())"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == _digest(photo_image(12345, 640, 384))


def _pillow_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_pictures_weigh_what_photographs_weigh_as_png() -> None:
    # PNG encoding is what the simulated GPU exists to make honest: a 512x512 photograph is
    # 300-450 KB at Pillow's default level, white noise ~750 KB, a smooth picture far less.
    image = photo_image(3, 512, 512)
    size = len(_pillow_png(image))
    assert 300_000 < size < 600_000
    smooth = image.filter(ImageFilter.GaussianBlur(4))
    assert len(_pillow_png(smooth)) < size / 2
    # Not a flat picture: its neighbouring pixels differ a little, its far ones a lot.
    pixels = np.asarray(image, dtype=np.float64)
    assert 2 < np.abs(np.diff(pixels, axis=1)).mean() < 20
    assert pixels.std() > 30


def test_other_sizes_and_previews_come_from_the_same_picture() -> None:
    wide = np.asarray(photo_image(5, 680, 384))
    assert wide.shape == (384, 680, 3)
    square = np.asarray(photo_image(5, 512, 512))
    assert np.array_equal(wide[:384, :512], square[:384])


def test_a_batch_of_16_waits_two_and_a_half_grids(backend: SimulatedGpuBackend) -> None:
    members = [BatchMember(_recipe(seed=s)) for s in range(4)]
    assert len({backend.batch_key(m.recipe) for m in members}) == 1
    started = time.perf_counter()
    results = backend.run_batch(members)
    elapsed = time.perf_counter() - started
    expected = 2.5 * MS / 1000
    # The wait never ends early; converting 16 images after it adds a little (loosely bounded:
    # this machine's other work can slow any run).
    assert expected <= elapsed < expected + 0.5
    assert all(isinstance(r, EngineResult) for r in results)
    shares = [r.compute_seconds for r in results if isinstance(r, EngineResult)]
    assert sum(shares) == pytest.approx(elapsed, rel=0.2)
    assert min(shares) > 0.8 * max(shares)  # equal members, equal shares
    alone = backend.run(_recipe(seed=2))
    assert [_digest(i) for i in alone.images] == [
        _digest(i)
        for i in results[2].images  # type: ignore[union-attr]
    ]


def test_a_cancelled_member_stops_and_the_others_complete(backend: SimulatedGpuBackend) -> None:
    stop = threading.Event()
    seen: dict[int, list[Progress]] = {0: [], 1: [], 2: []}
    members = [
        BatchMember(
            _recipe(seed=s),
            progress=seen[s].append,
            cancelled=stop.is_set if s == 1 else None,
        )
        for s in range(3)
    ]
    timer = threading.Timer(MS / 1000 / 4, stop.set)  # during the batch's wait
    timer.start()
    try:
        results = backend.run_batch(members)
    finally:
        timer.cancel()
    assert isinstance(results[1], Cancelled)
    assert seen[1] == []
    for index in (0, 2):
        result = results[index]
        assert isinstance(result, EngineResult) and len(result.images) == 4
        assert [(p.step, p.total) for p in seen[index]] == [(1, 1)]
        assert seen[index][0].preview is not None


def test_a_batch_cancelled_whole_stops_waiting(backend: SimulatedGpuBackend) -> None:
    slow = SimulatedGpuBackend(2000.0)
    stop = threading.Event()
    members = [BatchMember(_recipe(seed=s), cancelled=stop.is_set) for s in range(2)]
    timer = threading.Timer(0.1, stop.set)
    timer.start()
    started = time.perf_counter()
    results = slow.run_batch(members)
    assert time.perf_counter() - started < 1.0
    assert all(isinstance(r, Cancelled) for r in results)
    with pytest.raises(Cancelled):
        backend.run(_recipe(), cancelled=lambda: True)


def test_only_imagine_recipes_of_one_shape_share_a_key(backend: SimulatedGpuBackend) -> None:
    key = backend.batch_key(_recipe())
    assert key is not None
    assert backend.batch_key(_recipe(seed=99, positive=(PromptPart("another"),))) == key
    assert backend.batch_key(_recipe(width=640, height=384)) != key
    assert backend.batch_key(_recipe(steps=2)) != key
    assert backend.batch_key(_recipe(tile=True)) != key
    assert backend.batch_key(_recipe(operation="img2img", init_image=b"x", strength=0.5)) is None


def test_every_button_operation_gives_pictures(backend: SimulatedGpuBackend) -> None:
    parent = _recipe(width=256, height=256)
    grid_image = photo_image(11, 256, 256)
    picture = png_bytes(grid_image)
    info = model_info(REF)

    variation = backend.run(recipe_for_variation(parent, picture, strong=False, seed=3, info=info))
    assert len(variation.images) == 4
    assert len({_digest(i) for i in variation.images}) == 4

    mask = Image.new("L", (256, 256))
    mask.paste(255, (64, 64, 192, 192))
    region = backend.run(recipe_for_region(parent, picture, png_bytes(mask), seed=4, info=info))
    for image in region.images:  # the picture is kept outside the mask, new inside it
        assert image.size == (256, 256)
        assert image.crop((0, 0, 60, 60)).tobytes() == grid_image.crop((0, 0, 60, 60)).tobytes()
        assert (
            image.crop((80, 80, 180, 180)).tobytes()
            != grid_image.crop((80, 80, 180, 180)).tobytes()
        )

    zoom = backend.run(recipe_for_outpaint(parent, picture, zoom=2.0, seed=5, info=info))
    assert zoom.images[0].width > 256

    subtle = backend.run(recipe_for_upscale(picture, mode="subtle", seed=6, parent=parent))
    creative = backend.run(recipe_for_upscale(picture, mode="creative", seed=6, parent=parent))
    assert subtle.images[0].size == creative.images[0].size == (512, 512)
    assert _digest(subtle.images[0]) != _digest(creative.images[0])


def test_a_picture_operation_waits_ms(backend: SimulatedGpuBackend) -> None:
    parent = _recipe(width=256, height=256)
    recipe = recipe_for_upscale(
        png_bytes(photo_image(1, 128, 128)), mode="2x", seed=1, parent=parent
    )
    started = time.perf_counter()
    backend.run(recipe)
    assert time.perf_counter() - started >= MS / 1000
