"""The command line end to end, as a user runs it: real processes, real database, real model
code path (the tiny random diffusers pipeline)."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

CLI = [sys.executable, "-m", "dreamloom.cli"]


def run_cli(
    args: list[str],
    data_dir: Path,
    cwd: Path,
    timeout: float = 300,
    input: str | None = None,
    **environ: str,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DREAMLOOM_DATA_DIR": str(data_dir), **environ}
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def test_prompt_explain_prints_normalised_jobs(tmp_path: Path) -> None:
    result = run_cli(["prompt", "explain", "a {red, blue} fox --ar 16:9"], tmp_path, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("a red fox") and "--ar 16:9" in lines[0]
    assert lines[1].startswith("a blue fox")


def test_prompt_explain_json_and_errors(tmp_path: Path) -> None:
    ok = run_cli(["prompt", "explain", "--json", "a cat --chaos 40"], tmp_path, tmp_path)
    assert ok.returncode == 0, ok.stderr
    (data,) = json.loads(ok.stdout)
    assert data["params"]["chaos"] == 40
    bad = run_cli(["prompt", "explain", "a cat --stylize 5000"], tmp_path, tmp_path)
    assert bad.returncode == 2
    assert "--stylize must be between 0 and 1000 with --version 7" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_user_add_prints_a_token_stored_only_hashed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run_cli(["user", "add", "alice", "--plan", "pro"], data, tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert len(token) > 20
    raw = (data / "dreamloom.db").read_bytes()
    assert token.encode() not in raw
    again = run_cli(["user", "add", "alice"], data, tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    bad_plan = run_cli(["user", "add", "bob", "--plan", "platinum"], data, tmp_path)
    assert bad_plan.returncode == 2 and "Unknown plan" in bad_plan.stderr


def test_user_passwords_for_the_web_app(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = run_cli(
        ["user", "add", "rosa", "--password-stdin"], data, tmp_path, input="s3cret pass\n"
    )
    assert made.returncode == 0, made.stderr
    raw = (data / "dreamloom.db").read_bytes()
    assert b"s3cret pass" not in raw and b"$argon2id$" in raw  # stored as an argon2id hash
    short = run_cli(["user", "add", "sam", "--password-stdin"], data, tmp_path, input="abc\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert "sam" not in run_cli(["user", "list"], data, tmp_path).stdout  # nothing half made
    reset = run_cli(
        ["user", "password", "rosa", "--password-stdin"], data, tmp_path, input="another one\n"
    )
    assert reset.returncode == 0, reset.stderr
    missing = run_cli(
        ["user", "password", "nobody", "--password-stdin"], data, tmp_path, input="another one\n"
    )
    assert missing.returncode == 2 and "No account named 'nobody'" in missing.stderr


def test_library_lists_searches_and_acts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = tmp_path / "out"
    made = run_cli(
        ["imagine", "a quiet harbour --seed 2", "--out", str(out)],
        data,
        tmp_path,
        DREAMLOOM_MODEL="tiny",
    )
    assert made.returncode == 0, made.stderr
    listed = run_cli(["library", "list", "--search", "harbour"], data, tmp_path)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.strip().splitlines()
    job_id = line.split()[0]
    assert "a quiet harbour" in line and "public" in line
    liked = run_cli(["library", "do", "like", job_id], data, tmp_path)
    assert liked.returncode == 0 and "like: 1 job" in liked.stdout
    assert job_id in run_cli(["library", "list", "--liked"], data, tmp_path).stdout
    bad = run_cli(["library", "do", "burn", job_id], data, tmp_path)
    assert bad.returncode == 2 and "Unknown action 'burn'" in bad.stderr
    gone = run_cli(["library", "do", "delete", job_id], data, tmp_path)
    assert gone.returncode == 0, gone.stderr
    assert run_cli(["library", "list"], data, tmp_path).stdout.strip() == ""


def _images(out: Path, job_id: str) -> tuple[Image.Image, list[Image.Image]]:
    grid = Image.open(out / f"{job_id}_grid.png")
    singles = [Image.open(out / f"{job_id}_{i}.png") for i in range(1, 5)]
    return grid, singles


def test_imagine_saves_grid_and_singles_reproducibly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prompt = "a lighthouse at dusk --ar 16:9 --seed 7"
    first = run_cli(["imagine", prompt, "--out", "one"], data, tmp_path)
    assert first.returncode == 0, first.stderr
    match = re.search(r"job (\w+) seed (\d+)", first.stdout)
    assert match, first.stdout
    job_id, seed = match.group(1), int(match.group(2))
    assert seed == 7
    grid, singles = _images(tmp_path / "one", job_id)
    w, h = singles[0].size
    assert w > h and abs(w / h - 16 / 9) < 0.3
    assert all(s.size == (w, h) for s in singles)
    assert grid.size == (2 * w, 2 * h)
    # The grid is made of the singles, in reading order.
    assert np.array_equal(np.asarray(grid.crop((w, 0, 2 * w, h))), np.asarray(singles[1]))

    second = run_cli(["imagine", prompt, "--out", "two"], data, tmp_path)
    assert second.returncode == 0, second.stderr
    job2 = re.search(r"job (\w+) seed", second.stdout)
    assert job2 and job2.group(1) != job_id
    _, singles2 = _images(tmp_path / "two", job2.group(1))
    for a, b in zip(singles, singles2, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    # Four different pictures in one grid.
    arrays = [np.asarray(s, dtype=np.float32) for s in singles]
    assert min(np.abs(arrays[i] - arrays[j]).mean() for i in range(4) for j in range(i)) > 0.5

    with sqlite3.connect(data / "dreamloom.db") as db:
        status, gpu = db.execute(
            "select status, gpu_seconds from jobs where id = ?", (job_id,)
        ).fetchone()
    assert status == "completed" and gpu > 0


def test_imagine_says_when_lanczos_stood_in_for_real_esrgan(
    tmp_path: Path, without_realesrgan_path: str
) -> None:
    # The bundled model samples at 1/8 of the size and enlarges every picture: without
    # Real-ESRGAN's libraries the grid still comes, and the command says how it was made.
    result = run_cli(
        ["imagine", "a red fox --seed 4", "--out", "out"],
        tmp_path / "data",
        tmp_path,
        DREAMLOOM_MODEL="bundled",
        PYTHONPATH=without_realesrgan_path,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"job (\w+) seed 4", result.stdout)
    (note,) = [line for line in result.stdout.splitlines() if line.startswith("  note: ")]
    assert "Upscaled with a plain Lanczos resize" in note and "libvulkan.so.1" in note


def test_imagine_refuses_bad_prompt_without_traceback(tmp_path: Path) -> None:
    result = run_cli(["imagine", "a cat --ar 0:1"], tmp_path / "data", tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    data = tmp_path / "data"
    port = _free_port()
    env = {**os.environ, "DREAMLOOM_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stdout and proc.stdout.read()}")
            time.sleep(0.2)
        yield data, url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_submits_into_the_running_servers_queue(
    server: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = server
    assert httpx.get(f"{url}/healthz").json()["dispatching"] is True
    result = run_cli(["imagine", "a red fox --seed 3", "--out", "out"], data, tmp_path)
    assert result.returncode == 0, result.stderr
    match = re.search(r"job (\w+) seed 3", result.stdout)
    assert match, result.stdout
    assert (tmp_path / "out" / f"{match.group(1)}_grid.png").exists()


def test_user_grant_adds_fast_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_cli(["user", "add", "carol", "--plan", "basic"], data, tmp_path).returncode == 0
    granted = run_cli(["user", "grant", "carol", "--hours", "2", "--kind", "bonus"], data, tmp_path)
    assert granted.returncode == 0, granted.stderr
    # Basic has 200 minutes a month; two bonus hours on top.
    assert "fast time left 5.33 h" in granted.stdout
    listing = run_cli(["user", "list"], data, tmp_path)
    assert "carol" in listing.stdout and "320.0 min" in listing.stdout
    bad = run_cli(["user", "grant", "carol", "--hours", "1", "--kind", "gift"], data, tmp_path)
    assert bad.returncode == 2 and "purchased or bonus" in bad.stderr


def test_personalize_ranks_makes_moodboards_and_lists_codes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"DREAMLOOM_MODEL": "bundled", "DREAMLOOM_PERSONALIZE_RANKINGS": "2"}
    made = run_cli(["imagine", "a blue heart --seed 1", "--out", "out"], data, tmp_path, **env)
    assert made.returncode == 0, made.stderr
    listed = run_cli(["personalize", "profiles"], data, tmp_path, **env)
    assert listed.returncode == 0, listed.stderr
    (v7,) = [line for line in listed.stdout.splitlines() if "V7" in line]
    assert "0/2 rankings" in v7 and v7.startswith("*")
    profile = v7.split()[1]
    ranked = run_cli(
        ["personalize", "rank", profile, "--rounds", "2"], data, tmp_path, input="1\n2\n", **env
    )
    assert ranked.returncode == 0, ranked.stderr
    assert "unlocked" in ranked.stdout.splitlines()[-1]
    board = run_cli(["personalize", "new", "Mine", "--moodboard"], data, tmp_path, **env)
    assert board.returncode == 0, board.stderr
    board_id = board.stdout.split()[0]
    picture = next((tmp_path / "out").glob("*_1.png"))
    added = run_cli(["personalize", "add", board_id, str(picture)], data, tmp_path, **env)
    assert added.returncode == 0 and "1 pictures" in added.stdout, added.stderr
    code = run_cli(["personalize", "code", board_id], data, tmp_path, **env)
    assert code.returncode == 0, code.stderr
    codes = run_cli(["personalize", "codes"], data, tmp_path, **env)
    assert code.stdout.strip() in codes.stdout and "Mine" in codes.stdout
    refused = run_cli(["personalize", "delete", profile], data, tmp_path, **env)
    assert refused.returncode == 1 and "Global profiles cannot be deleted" in refused.stderr


def test_tune_draws_looks_and_makes_a_code(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"DREAMLOOM_MODEL": "bundled", "DREAMLOOM_VERSIONS": '{"5.2": "bundled"}'}
    made = run_cli(
        ["tune", "new", "a red fox --v 5.2", "--directions", "16"], data, tmp_path, **env
    )
    assert made.returncode == 0, made.stderr
    tuner = made.stdout.split()[0]
    assert "16 directions, 0 looks drawn" in made.stdout
    drawn = run_cli(["tune", "draw", tuner, "3"], data, tmp_path, **env)
    assert drawn.returncode == 0, drawn.stderr
    lines = drawn.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["3A", "3B"]
    assert all(Path(line.split()[1]).is_file() for line in lines)
    code = run_cli(["tune", "code", tuner, "3B"], data, tmp_path, **env)
    assert code.returncode == 0 and code.stdout.startswith("--style "), code.stderr
    bad = run_cli(["tune", "code", tuner, "3C"], data, tmp_path, **env)
    assert bad.returncode == 2 and "such as 3A" in bad.stderr
    listed = run_cli(["tune", "list"], data, tmp_path, **env)
    assert tuner in listed.stdout and "2 looks drawn" in listed.stdout
