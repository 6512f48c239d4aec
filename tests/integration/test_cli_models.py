"""`dreamloom models list|add|remove|pull`: the operator's models file from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from dreamloom.cli import app
from dreamloom.engine.catalog import read_models_file

runner = CliRunner()


def _models(data: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["models", *args, "--data-dir", str(data)])
    return result.exit_code, result.output


def test_add_list_and_remove_keep_the_operators_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    models = data / "models.toml"
    models.write_text('# our models\n[versions."7"]\nmodel = "bundled"  # the default\n')
    code, out = _models(data, "add", "6.1", "tiny", "--steps", "4", "--size", "96")
    assert code == 0, out
    assert "6.1 -> tiny" in out
    code, out = _models(data, "add", "niji6", "tiny")
    assert code == 0, out
    text = models.read_text()
    assert "# our models" in text and "# the default" in text  # comments survive
    parsed = read_models_file(models)
    assert sorted(parsed.versions) == ["6.1", "7", "niji 6"]
    assert (parsed.versions["6.1"].steps, parsed.versions["6.1"].size) == (4, 96)

    code, out = _models(data, "list")
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith("--")]
    assert lines[0].startswith("--v 7") and "bundled" in lines[0] and "ships" in lines[0]
    assert lines[1].startswith("--v 6.1") and "size    96" in lines[1] and "steps   4" in lines[1]
    assert lines[2].startswith("--niji 6")

    code, out = _models(data, "remove", "6.1")
    assert code == 0, out
    assert sorted(read_models_file(models).versions) == ["7", "niji 6"]
    code, out = _models(data, "remove", "6.1")
    assert code == 2 and "6.1 is not in the models file" in out


def test_add_refuses_what_cannot_be_a_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    code, out = _models(data, "add", "7", str(tmp_path / "nowhere"))
    assert code == 2 and "no diffusers model at" in out
    code, out = _models(data, "add", "8", "tiny")
    assert code == 2 and "unknown version '8'" in out
    code, out = _models(data, "add", "7", "tiny", "--size", "100")
    assert code == 2 and "multiple of 8" in out
    code, out = _models(data, "add", "7", "simulated-gpu:fast")
    assert code == 2
    assert not (data / "models.toml").exists()  # nothing was written


def test_list_names_the_default_model_without_a_file(tmp_path: Path) -> None:
    code, out = _models(tmp_path, "list")
    assert code == 0, out
    assert "no models file" in out
    (line,) = [line for line in out.splitlines() if line.startswith("--")]
    assert line.startswith("--v 7") and "bundled" in line


def test_pull_without_a_network_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DREAMLOOM_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "dreamloom.cli", "models", "pull", "someone/some-model"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "could not download someone/some-model" in done.stderr
    assert "Is there a network?" in done.stderr


def test_pull_of_a_local_folder_checks_it(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    code, out = _models(tmp_path, "pull", str(folder))
    assert code == 2 and "model_index.json is missing" in out
    (folder / "model_index.json").write_text("{}")
    code, out = _models(tmp_path, "pull", str(folder))
    assert code == 0 and "nothing to download" in out


def test_an_invalid_models_file_stops_a_command_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "models.toml").write_text('[versions."7"]\nmodel = "tiny"\nsteps = 0\n')
    env = {**os.environ, "DREAMLOOM_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "dreamloom.cli", "user", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "is invalid: versions.7.steps: Input should be greater than or equal to 1" in done.stderr
    assert "Traceback" not in done.stderr
