"""Describe is a queued job: its events, its charge, and its recovery after a SIGKILL."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import (
    Client,
    Files,
    Server,
    events_once,
    free_port,
    header,
    kill_server,
    png,
    start_receiver,
    start_server,
    stop_server,
)


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The fake runner sleeps 4 steps of 0.75 s: a describe runs long enough to interrupt.
    running = start_server(
        tmp_path_factory.mktemp("describe-kill"),
        DREAMLOOM_RUNNER="fake",
        DREAMLOOM_FAKE_STEP_SECONDS="0.75",
    )
    yield running
    if running.process.poll() is None:
        stop_server(running)


def _status(client: Client, job_id: str) -> str:
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def _charges(server: Server, job_id: str) -> list[tuple[float, float]]:
    with server.db() as db:
        rows = db.execute(
            "SELECT gpu_seconds, charged_seconds FROM usage_ledger WHERE job_id = ?", (job_id,)
        ).fetchall()
    return [(float(gpu), float(cost)) for gpu, cost in rows]


def test_a_describe_interrupted_by_sigkill_completes_after_the_restart_charged_once(
    slow_server: Server,
) -> None:
    client = slow_server.user("kira-describe")
    upload = client.post(
        "/jobs/describe",
        files={"imageBlob": ("red.png", png((96, 64), (220, 30, 30)), "image/png")},
        data={"stream": "false"},
    )
    assert upload.status_code == 201, upload.text
    job_id = upload.json()["jobid"]
    deadline = time.monotonic() + 30
    while _status(client, job_id) not in ("started", "progress"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    slow_server.process.kill()  # SIGKILL, mid-run
    slow_server.process.wait(10)
    restarted = start_server(
        slow_server.data_dir, DREAMLOOM_RUNNER="fake", DREAMLOOM_FAKE_STEP_SECONDS="0.05"
    )
    try:
        again = Client(restarted, client.token)
        done = again.wait(job_id, timeout=60)
        assert done["status"] == "completed", done
        prompts = done["response"]["prompts"]
        assert len(prompts) == 4 and all(p.endswith("--ar 3:2") for p in prompts)
        assert done["response"]["embeds"][0]["description"].startswith("1️⃣ ")
        ((gpu, cost),) = _charges(restarted, job_id)
        assert gpu > 0 and cost > 0
    finally:
        stop_server(restarted)


def test_a_describe_streams_its_events_and_is_charged(server: Server, files: Files) -> None:
    client = server.user("lena-describe")
    files.content["/lena.png"] = (png((64, 64), (20, 40, 220)), "image/png")
    events = client.stream("/jobs/describe", {"imageUrl": files.url("/lena.png")})
    names = [event["event"] for event in events]
    assert names[1] == "midjourney_created" and names[-1] == "midjourney_completed"
    assert "midjourney_started" in names
    job = events[-1]["job"]
    assert len(job["response"]["prompts"]) == 4
    ((gpu, cost),) = _charges(server, job["jobid"])
    assert gpu > 0 and cost > 0


def test_a_36_megapixel_upload_is_refused_before_decoding(server: Server) -> None:
    client = server.user("mira-describe")
    data = flat_png(6000, 6000)
    response = client.post(
        "/jobs/describe",
        files={"imageBlob": ("huge.png", data, "image/png")},
        data={"stream": "false"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Image is too large: 6000×6000 pixels (at most 25,000,000 pixels in total)"
    )


def flat_png(width: int, height: int) -> bytes:
    """A flat red PNG, compressed row by row (36 Mpx: ~100 KB, as a user would upload it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xdc\x1e\x1e" * width
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PATH = "/describe"


@pytest.mark.parametrize("processes", [1, 2])
def test_a_describe_interrupted_mid_run_delivers_each_webhook_event_once(
    tmp_path: Path, processes: int
) -> None:
    """Its receiver is down while the describe runs; the server is SIGKILLed mid-run and
    started again; the describe runs again and completes; then the receiver comes up: every
    event of both runs arrives, each event id once, in order."""
    port = free_port()  # the receiver's, before it listens: its connections are refused
    env = {"DREAMLOOM_RUNNER": "fake", "DREAMLOOM_WEBHOOK_BACKOFF_MAX_S": "0.5"}
    data_dir = tmp_path / "data"
    server = start_server(data_dir, processes=processes, DREAMLOOM_FAKE_STEP_SECONDS="0.75", **env)
    try:
        client = server.user("kim-describe-hooks")
        upload = client.post(
            "/jobs/describe",
            files={"imageBlob": ("red.png", png((96, 64), (220, 30, 30)), "image/png")},
            data={
                "stream": "false",
                "replyUrl": f"http://localhost:{port}{PATH}",
                "replyLevel": "all",
            },
        )
        assert upload.status_code == 201, upload.text
        job_id = upload.json()["jobid"]
        deadline = time.monotonic() + 30
        while _status(client, job_id) not in ("started", "progress"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        kill_server(server)  # SIGKILL, mid-run
    server = start_server(data_dir, processes=processes, DREAMLOOM_FAKE_STEP_SECONDS="0.05", **env)
    try:
        assert Client(server, client.token).wait(job_id, timeout=60)["status"] == "completed"
        receiver, stop = start_receiver(port)
        try:
            deadline = time.monotonic() + 60
            while not any(
                b["status"] == "completed" for _, b in events_once(receiver, "/describe")
            ):
                assert time.monotonic() < deadline, receiver.received
                time.sleep(0.1)
            time.sleep(1.0)  # anything sent twice would have arrived by now
        finally:
            stop()
        events = events_once(receiver, PATH)
        statuses = [body["status"] for _, body in events]
        collapsed = [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]]
        # The first run's events, then the second's after the restart re-queued the job.
        assert collapsed[:2] == ["created", "started"], statuses
        assert collapsed[-3:] == ["created", "started", "completed"] or collapsed[-4:] == [
            "created",
            "started",
            "progress",
            "completed",
        ], statuses
        assert {body["jobid"] for _, body in events} == {job_id}
        assert len(events[-1][1]["response"]["prompts"]) == 4
        # Every event the outbox holds for the job was delivered, and each arrived once.
        posted = [header(h, "X-Dreamloom-Event-Id") for p, h, _ in receiver.received]
        with server.db() as db:
            rows = db.execute(
                "SELECT event_id, state FROM outbox WHERE job_id = ?", (job_id,)
            ).fetchall()
        assert rows and {state for _, state in rows} == {"delivered"}
        assert sorted({event_id for event_id, _ in rows}) == sorted(set(posted))
        assert len(posted) == len(set(posted)), "an event was delivered twice"
    finally:
        stop_server(server)
