"""The settings commands from the command line, as a user runs them: real processes, one data
directory; the next `dreamloom imagine` obeys what they set, and `dreamloom show` posts a job
again."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from PIL import Image

CLI = [sys.executable, "-m", "dreamloom.cli"]


def run_cli(args: list[str], data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DREAMLOOM_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def ok(args: list[str], data: Path, cwd: Path) -> str:
    result = run_cli(args, data, cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(args: list[str], data: Path, cwd: Path) -> str:
    result = run_cli(args, data, cwd)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_settings_prefer_and_show(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = ok(["settings", "--stylize", "high", "--remix"], data, tmp_path)
    assert out.startswith("Adjust your settings here. Current suffix: ` --s 250`")
    assert "stylize: 250" in out and "remix: true" in out
    shown = json.loads(ok(["settings", "--json"], data, tmp_path))
    assert shown["verb"] == "settings" and shown["response"]["settings"]["stylize"] == 250

    assert refused(["settings", "--version", "9"], data, tmp_path) == (
        "--version must be one of 1, 2, 3, 4, 5, 5.1, 5.2, 6, 6.1, 7"
    )
    assert refused(["settings", "--stylize", "3000"], data, tmp_path) == (
        "--stylize must be between 0 and 1000 with --version 7"
    )
    # The local account is on the default plan, which has no stealth.
    assert refused(["stealth"], data, tmp_path) == (
        "Stealth mode is only available with a pro or mega plan"
    )

    # Parameter text needs no quotes.
    out = ok(["prefer", "suffix", "--ar", "16:9"], data, tmp_path)
    assert out.startswith("Custom suffix set to ` --ar 16:9`")
    assert refused(["prefer", "suffix", "--chaos 300"], data, tmp_path) == (
        "--chaos must be between 0 and 100 with --version 7"
    )
    out = ok(["prefer", "option", "set", "calm", "--chaos", "0", "--no", "people"], data, tmp_path)
    assert out.strip() == "Custom option `--calm` set to `--chaos 0 --no people`"
    listed = json.loads(ok(["prefer", "option", "list", "--json"], data, tmp_path))
    assert listed["response"]["optionSets"] == {"calm": "--chaos 0 --no people"}

    made = ok(["imagine", "a harbour at dawn --calm --seed 3", "--out", "one"], data, tmp_path)
    match = re.search(r"job (\w+) seed 3", made)
    assert match, made
    job_id = match.group(1)
    grid = Image.open(tmp_path / "one" / f"{job_id}_grid.png")
    assert grid.width > grid.height  # the suffix's --ar 16:9
    with sqlite3.connect(data / "dreamloom.db") as db:
        (prompt,) = db.execute("select prompt_text from jobs where id = ?", (job_id,)).fetchone()
    assert "--stylize 250" in prompt and "--ar 16:9" in prompt and "--no people" in prompt

    out = ok(["show", job_id, "--out", "shown"], data, tmp_path)
    show_id = re.search(r"job (\w+) shows", out)
    assert show_id, out
    assert "buttons: U1 U2 U3 U4" in out
    again = Image.open(tmp_path / "shown" / f"{show_id.group(1)}_grid.png")
    assert again.size == grid.size and again.tobytes() == grid.tobytes()
    assert refused(["show", "no-such-job"], data, tmp_path) == "Job not found"

    out = ok(["settings", "--reset"], data, tmp_path)
    assert "stylize: 100" in out and "remix: false" in out
    assert ok(["prefer", "suffix"], data, tmp_path).startswith(
        "You have no custom suffix. Set one with `/prefer suffix`."
    )
    # Reset Settings keeps option sets.
    assert "`--calm`" in ok(["prefer", "option", "list"], data, tmp_path)
    out = ok(["prefer", "option", "delete", "calm"], data, tmp_path)
    assert out.strip() == "Custom option `--calm` removed."
