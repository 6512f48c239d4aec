"""``dreamloom serve --processes 2``: two API processes and one scheduler over one data
directory, driven over HTTP. Every submission is admitted once, every job runs, SSE streams
hear jobs that another process runs, and each webhook event is sent exactly once."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from api_helpers import (
    Client,
    Receiver,
    Server,
    deliveries_across_a_crash,
    imagine_with_webhook,
    start_server,
    stop_server,
)


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("multi"), processes=2, DREAMLOOM_RUNNER="fake")
    try:
        yield running
    finally:
        stop_server(running)


def _processes_answering(server: Server, want: int = 2, tries: int = 200) -> set[int]:
    """Process ids seen on fresh connections (each lands on whichever process accepts it)."""
    seen: set[int] = set()
    for _ in range(tries):
        health = httpx.get(f"{server.base}/healthz", timeout=10).json()
        assert health["ok"] and not health["dispatching"]
        seen.add(health["process"])
        if len(seen) >= want:
            break
    return seen


def test_two_api_processes_answer_and_hear_the_scheduler(multi: Server) -> None:
    assert len(_processes_answering(multi)) == 2
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if httpx.get(f"{multi.base}/healthz", timeout=10).json()["events"]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("no API process hears job events")


def _niceness(pid: int) -> dict[int, int]:
    """Each thread of process ``pid`` and its niceness (field 19 of /proc/PID/task/TID/stat)."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        threads[int(task.name)] = int(fields[16])
    return threads


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have own niceness")
def test_the_scheduler_thread_gives_way_to_the_api_processes(multi: Server) -> None:
    scheduler = _niceness(multi.process.pid)
    # The dispatch thread alone: not the thread that starts API processes and workers.
    assert sorted(scheduler.values()).count(10) == 1, scheduler
    assert scheduler[multi.process.pid] == 0
    children = [
        int(child)
        for task in Path(f"/proc/{multi.process.pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    assert len(children) >= 4  # two API processes, two workers
    for child in children:
        assert set(_niceness(child).values()) == {0}, child


def test_concurrent_submissions_through_both_processes_all_run(multi: Server) -> None:
    clients = [multi.user(f"many{i}", plan="pro") for i in range(8)]

    def submit_all(client: Client) -> list[str]:
        # A fresh connection per submission spreads them over the processes.
        ids = []
        for i in range(3):
            response = httpx.post(
                f"{multi.base}/v3/midjourney/jobs/imagine",
                json={"prompt": f"a lamp number {i}", "stream": False},
                headers={"Authorization": f"Bearer {client.token}"},
                timeout=60,
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["jobid"])
        return ids

    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(submit_all, clients))
    for client, ids in zip(clients, batches, strict=True):
        assert len(set(ids)) == 3
        for job_id in ids:
            assert client.wait(job_id, timeout=120)["status"] == "completed"
    with multi.db() as db:
        (count,) = db.execute("SELECT count(*) FROM jobs WHERE verb = 'imagine'").fetchone()
    assert count >= 24


def test_a_stream_hears_a_job_run_by_the_scheduler_process(multi: Server) -> None:
    client = multi.user("streamer", plan="pro")
    for _ in range(3):  # whichever process takes the connection
        events = client.stream("/jobs/imagine", {"prompt": "a red kite --seed 3"})
        names = [e["event"] for e in events]
        assert names[0] == "initialized" and names[-1] == "midjourney_completed"
        assert "midjourney_created" in names and "midjourney_started" in names
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_each_webhook_event_is_sent_once(multi: Server, receiver: Receiver) -> None:
    client = multi.user("hooked", plan="pro")
    jobs = []
    for i in range(6):
        response = httpx.post(
            f"{multi.base}/v3/midjourney/jobs/imagine",
            json={
                "prompt": f"a hooked fish {i}",
                "stream": False,
                "replyUrl": receiver.url(f"/multi/{i}"),
                "replyLevel": "standard",
            },
            headers={"Authorization": f"Bearer {client.token}"},
            timeout=60,
        )
        assert response.status_code == 201, response.text
        jobs.append(response.json()["jobid"])
    for job_id in jobs:
        assert client.wait(job_id, timeout=120)["status"] == "completed"
    time.sleep(1.5)  # anything sent twice would have arrived by now
    for i, job_id in enumerate(jobs):
        bodies = receiver.bodies(f"/multi/{i}")
        assert [b["status"] for b in bodies] == ["created", "completed"], bodies
        assert {b["jobid"] for b in bodies} == {job_id}


def test_webhooks_survive_a_receiver_down_and_a_sigkill_of_the_server(tmp_path: Path) -> None:
    deliveries_across_a_crash(tmp_path / "data", imagine_with_webhook, processes=2)


def test_a_second_scheduler_on_the_same_data_directory_is_refused(
    multi: Server, tmp_path: Path
) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable, "-m", "dreamloom.cli", "serve", "--port", "1",
            "--processes", "2", "--data-dir", str(multi.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "already runs the scheduler" in result.stderr + result.stdout


def test_a_port_held_by_another_program_is_refused(tmp_path: Path) -> None:
    """A port held by another program: serve says so before it starts any API process (they
    used to die at once, one after the other)."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable, "-m", "dreamloom.cli", "serve", "--port", str(port),
                "--processes", "2", "--data-dir", str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DREAMLOOM_RUNNER": "fake"},
        )  # fmt: skip
    assert result.returncode == 2
    output = " ".join((result.stderr + result.stdout).split())
    assert f"port {port} on 127.0.0.1 is already in use" in output


def _children(pid: int) -> set[int]:
    return {
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    }


def _gone(pid: int) -> bool:
    """Exited (a zombie counts: nothing runs, nothing listens; PID 1 may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _port_free(port: int) -> bool:
    """Nobody listens on the port: an exclusive bind (no SO_REUSEPORT) succeeds."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_api_processes_die_with_a_killed_serving_process(tmp_path: Path) -> None:
    """SIGKILL gives the serving process no chance to stop its API processes: they must go on
    their own, not keep admitting jobs that no scheduler will run, nor hold the port."""
    import signal

    running = start_server(tmp_path / "data", processes=2, DREAMLOOM_RUNNER="fake")
    try:
        api = _processes_answering(running)
        assert len(api) == 2 and api <= _children(running.process.pid)
        running.process.send_signal(signal.SIGKILL)
        running.process.wait(10)
        deadline = time.monotonic() + 10
        while not all(_gone(pid) for pid in api) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in api if not _gone(pid)] == []
        port = int(running.base.rsplit(":", 1)[1])
        assert _port_free(port)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{running.base}/healthz", timeout=5)
    finally:
        stop_server(running)


def _serve_again(port: int, data_dir: Path, processes: int) -> tuple[int, str]:
    """``dreamloom serve`` on ``port``: its exit code and output; killed with its children
    (the code before this fix started a second server that shared the port) after 60 s."""
    import os
    import signal
    import subprocess

    command = [
        sys.executable, "-m", "dreamloom.cli", "serve", "--host", "127.0.0.1",
        "--port", str(port), "--processes", str(processes), "--data-dir", str(data_dir),
    ]  # fmt: skip
    second = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DREAMLOOM_RUNNER": "fake", "DREAMLOOM_MODEL": "tiny"},
        start_new_session=True,
    )
    try:
        output, _ = second.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        output, _ = second.communicate()
        return -1, output
    return second.returncode, output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("processes", [1, 2])
def test_a_second_server_on_a_busy_port_is_refused(
    multi: Server, tmp_path: Path, processes: int
) -> None:
    port = int(multi.base.rsplit(":", 1)[1])
    code, output = _serve_again(port, tmp_path / "second", processes)
    assert code == 2, output
    assert f"port {port} on 127.0.0.1 is already in use" in " ".join(output.split())
    # Every connection still reaches the first server's API processes.
    api = _children(multi.process.pid)
    for _ in range(40):
        health = httpx.get(f"{multi.base}/healthz", timeout=10).json()
        assert health["process"] in api


def test_a_multi_process_server_refuses_the_port_of_a_one_process_server(
    server: Server, tmp_path: Path
) -> None:
    port = int(server.base.rsplit(":", 1)[1])
    code, output = _serve_again(port, tmp_path / "second", 2)
    assert code == 2, output
    assert "is already in use" in " ".join(output.split())
    assert httpx.get(f"{server.base}/healthz", timeout=10).json()["process"] == server.process.pid
