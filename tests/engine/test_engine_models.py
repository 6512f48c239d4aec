from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dreamloom.engine import Backend, model_info
from dreamloom.engine.tiny import ensure_tiny_model


def test_tiny_info_needs_no_files(tmp_path: Path) -> None:
    info = model_info("tiny", tmp_path)
    assert (info.name, info.native_size, info.multiple) == ("tiny", 64, 8)
    assert info.supports_negative
    assert list(tmp_path.iterdir()) == []


def test_local_folder_info_comes_from_its_configs(model_cache: Path, tiny_backend: Backend) -> None:
    folder = ensure_tiny_model(model_cache)  # already built by the backend fixture
    info = model_info(str(folder), model_cache)
    assert info.name == str(folder)
    assert (info.native_size, info.multiple) == (64, 8)
    assert (info.default_steps, info.default_guidance) == (8, 7.5)
    assert tiny_backend.info.default_steps == 8


def test_ensure_tiny_model_builds_once(model_cache: Path, tiny_backend: Backend) -> None:
    folder = ensure_tiny_model(model_cache)
    stamp = (folder / "model_index.json").stat().st_mtime_ns
    assert ensure_tiny_model(model_cache) == folder
    assert (folder / "model_index.json").stat().st_mtime_ns == stamp
    assert (folder / "unet" / "config.json").exists()


@pytest.mark.parametrize(
    ("ref", "native", "steps", "guidance", "negative"),
    [
        ("stabilityai/sd-turbo", 512, 1, 0.0, False),
        ("stabilityai/sdxl-turbo", 512, 1, 0.0, False),
        ("stabilityai/stable-diffusion-xl-base-1.0", 1024, 30, 5.0, True),
        ("stabilityai/stable-diffusion-2-1", 768, 30, 7.5, True),
        ("stabilityai/stable-diffusion-2-1-base", 512, 30, 7.5, True),
        ("someone/unknown-model", 512, 30, 7.5, True),
    ],
)
def test_hub_ids_get_family_defaults_without_network(
    tmp_path: Path, ref: str, native: int, steps: int, guidance: float, negative: bool
) -> None:
    info = model_info(ref, tmp_path)
    assert (info.name, info.native_size, info.default_steps) == (ref, native, steps)
    assert (info.default_guidance, info.supports_negative) == (guidance, negative)


def test_hub_model_in_the_cache_is_read_from_its_configs(tmp_path: Path) -> None:
    repo = tmp_path / "models--someone--wide-model"
    snapshot = repo / "snapshots" / ("0" * 40)
    (snapshot / "unet").mkdir(parents=True)
    (snapshot / "vae").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    (snapshot / "model_index.json").write_text(json.dumps({"_class_name": "X"}))
    (snapshot / "unet" / "config.json").write_text(json.dumps({"sample_size": 96}))
    (snapshot / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [1, 2, 3, 4]}))
    info = model_info("someone/wide-model", tmp_path)
    assert (info.native_size, info.multiple) == (768, 8)


def test_importing_the_engine_does_not_load_diffusers() -> None:
    # Web processes build recipes and grids; they must not pay for the model libraries.
    code = "import sys, dreamloom.engine; print('diffusers' in sys.modules, 'torch' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.split() == ["False", "False"]
