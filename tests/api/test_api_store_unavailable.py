"""The database cannot take a submission now: 503 with Retry-After, never 500, never a request
held for good; nothing is admitted, and the same request succeeds once the cause is gone."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import Client, Server, start_server, stop_server

BOUND_S = 1.0


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("busy"),
        DREAMLOOM_RUNNER="fake",
        DREAMLOOM_DATABASE_BUSY_TIMEOUT_S=str(BOUND_S),
    )
    try:
        yield running
    finally:
        stop_server(running)


def _jobs(server: Server) -> int:
    with server.db() as db:
        (count,) = db.execute("SELECT count(*) FROM jobs").fetchone()
    return int(count)


def _imagine(client: Client, prompt: str) -> httpx.Response:
    return client.post("/jobs/imagine", json={"prompt": prompt, "stream": False}, timeout=30)


def _assert_busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert "database is busy" in response.json()["error"]


def test_a_write_lock_held_by_another_process_gives_503_then_the_job_is_admitted(
    busy_server: Server,
) -> None:
    """Another dreamloom process (a stuck CLI command, say) holds the write lock."""
    client = busy_server.user("waiting")
    before = _jobs(busy_server)
    fd = os.open(busy_server.data_dir / "dreamloom.db-writelock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        _assert_busy(_imagine(client, "a held lamp"))
        assert BOUND_S * 0.9 <= time.monotonic() - started < BOUND_S + 10
        assert _jobs(busy_server) == before
    finally:
        os.close(fd)
    assert _imagine(client, "a held lamp").status_code == 201
    assert _jobs(busy_server) == before + 1


def test_sqlites_own_lock_held_by_another_program_gives_503(busy_server: Server) -> None:
    """An operator's sqlite3 shell in a write transaction."""
    client = busy_server.user("shell")
    before = _jobs(busy_server)
    other = sqlite3.connect(busy_server.data_dir / "dreamloom.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        _assert_busy(_imagine(client, "a shell lamp"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _jobs(busy_server) == before
    assert _imagine(client, "a shell lamp").status_code == 201


@pytest.fixture
def small_disk(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("16m")


def _fill(path: Path) -> None:
    # Unbuffered: closing the file then has nothing left to write on the full disk.
    with path.open("wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
        except OSError:
            pass


def test_a_full_disk_at_submission_gives_503_and_admits_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    server = start_server(small_disk / "data", log_dir=tmp_path, DREAMLOOM_RUNNER="fake")
    try:
        client = server.user("crowded")
        before = _jobs(server)
        filler = small_disk / "filler"
        _fill(filler)
        statuses = []
        for i in range(100):
            response = _imagine(client, f"a crowded lamp {i}")
            statuses.append(response.status_code)
            if response.status_code != 201:
                break
        assert set(statuses) <= {201, 503}, statuses
        assert statuses[-1] == 503, statuses
        assert int(response.headers["Retry-After"]) > 0
        assert "disk is full" in response.json()["error"]
        admitted = statuses.count(201)
        filler.unlink()
        assert _jobs(server) == before + admitted
        assert _imagine(client, "a lamp with room").status_code == 201
        assert _jobs(server) == before + admitted + 1
    finally:
        stop_server(server)
