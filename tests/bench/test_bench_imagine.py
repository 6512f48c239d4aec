"""bench/bench_imagine.py runs in each of its measuring modes, at toy scale, as a user runs it
(a subprocess of this checkout), and ends with the JSON line that reports are read from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "bench_imagine.py"


def run_bench(*args: str, tmp_path: Path) -> tuple[list[str], dict[str, Any]]:
    # This checkout's code, in the bench and in the worker processes it starts (they inherit
    # the environment); temporary files under the test's folder. One thread per process: the
    # toy model gains nothing from more, and on a busy 2-core machine threads that wait for
    # each other make each run many times slower (0.15 s a tiny grid on one, 0.5-2 s on two).
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(BENCH), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert isinstance(report, dict)
    return lines, report


@pytest.mark.slow
def test_simulated_gpu_mode_reports_its_three_ratios(tmp_path: Path) -> None:
    lines, report = run_bench(
        "--simulated-gpu-ms", "30", "--jobs", "6", "--lone-runs", "2", tmp_path=tmp_path
    )
    assert list(report) == [
        "simulated_gpu_ms",
        "lone_e2e_ratio",
        "throughput_ratio",
        "batched_throughput_ratio",
    ]
    assert report["simulated_gpu_ms"] == 30
    for key in ("lone_e2e_ratio", "throughput_ratio", "batched_throughput_ratio"):
        assert isinstance(report[key], float) and report[key] > 0
    # A grid cannot be done end to end before the simulated GPU made it, nor jobs finish
    # faster than it can make them (1.6x its batch-4 rate at most, with batches of 16).
    assert report["lone_e2e_ratio"] > 1
    assert report["throughput_ratio"] <= 1.0 and report["batched_throughput_ratio"] <= 1.6
    assert any(line.startswith("limit: ") for line in lines)


@pytest.mark.slow
def test_device_mode_prints_the_table_and_its_ratios(tmp_path: Path) -> None:
    lines, report = run_bench(
        "--device",
        "cpu",
        "--model",
        "tiny",
        "--runs",
        "1",
        "--jobs",
        "2",
        "--grids",
        "1",
        tmp_path=tmp_path,
    )
    assert (report["device"], report["model"], report["batch_images"]) == ("cpu", "tiny", 4)
    for key in (
        "bare_grid_ms",
        "e2e_grid_ms",
        "lone_e2e_ratio",
        "bare_batch4_images_per_s",
        "bare_batched_images_per_s",
        "queued_images_per_s",
        "queued_vs_bare_batch4",
        "queued_vs_bare_batched",
    ):
        assert isinstance(report[key], float) and report[key] > 0, key
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 5 and "dreamloom imagine end to end" in table[-1]
