"""A real dreamloom server on a loopback port, and small helpers to drive it with httpx.

The server runs in a subprocess started by ``dreamloom serve`` (the tiny diffusers model, one
SQLite file); tests talk to it only over HTTP, and read its database file
only to check what HTTP does not show (costs) or to age a job.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from dreamloom.engine.catalog import every_version

ADMIN = "test-admin-token"
V3 = "/v3/midjourney"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data_dir / "dreamloom.db", timeout=30)

    def user(self, name: str, plan: str = "pro") -> Client:
        response = httpx.post(
            f"{self.base}/native/users",
            json={"name": name, "plan": plan},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert response.status_code == 201, response.text
        return Client(self, response.json()["token"])

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        return httpx.request(method, f"{self.base}{path}", headers=headers, **kwargs)


@dataclass
class Client:
    server: Server
    token: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.server.base,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=120,
        )

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"{V3}{path}", **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"{V3}{path}", **kwargs)

    def submit(self, path: str, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
        response = self.post(path, json={**body, "stream": False})
        assert response.status_code == expect, response.text
        job: dict[str, Any] = response.json()
        return job

    def run(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Submit (201: the job as created) and wait for the job to end."""
        return self.wait(self.submit(path, body)["jobid"])

    def imagine(self, prompt: str) -> dict[str, Any]:
        return self.wait(self.submit("/jobs/imagine", {"prompt": prompt})["jobid"])

    def press(self, job_id: str, button: str, **extra: Any) -> dict[str, Any]:
        job = self.submit("/jobs/button", {"jobId": job_id, "button": button, **extra})
        return self.wait(job["jobid"])

    def wait(self, job_id: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/jobs/{job_id}")
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if job["status"] in ("completed", "failed", "moderated"):
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
            time.sleep(0.2)

    def image(self, url: str) -> Image.Image:
        response = self.http.get(url)
        assert response.status_code == 200, (url, response.text)
        return Image.open(io.BytesIO(response.content)).convert("RGB")

    def stream(
        self,
        path: str,
        body: dict[str, Any],
        on_event: Callable[[dict[str, Any]], object] | None = None,
    ) -> list[dict[str, Any]]:
        """POST with stream:true and collect the SSE events until the stream ends
        (``on_event`` sees each as it comes, while the job goes on)."""
        events = []
        with self.http.stream("POST", f"{V3}{path}", json=body) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if on_event is not None:
                        on_event(events[-1])
        return events


def start_server(
    data_dir: Path,
    *,
    processes: int = 1,
    log_dir: Path | None = None,
    port: int | None = None,
    **env: str,
) -> Server:
    """``log_dir``: where server.log goes (default: the data directory); ``port``: the one a
    server killed before had (its clients reconnect there), else a free one."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = (log_dir or data_dir) / "server.log"
    environment = {
        **os.environ,
        "DREAMLOOM_DATA_DIR": str(data_dir),
        "DREAMLOOM_MODEL": "tiny",
        # The suite is not about versions: every one is served by the tiny model.
        "DREAMLOOM_VERSIONS": json.dumps(every_version("tiny")),
        "DREAMLOOM_WORKERS": "2",
        "DREAMLOOM_ADMIN_TOKEN": ADMIN,
        "DREAMLOOM_ALLOWED_HOSTS": '["localhost"]',
        "DREAMLOOM_WEBHOOK_BACKOFF_S": "0.05",
        **env,
    }
    command = [
        sys.executable,
        "-m",
        "dreamloom.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--processes",
        str(processes),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return Server(base, data_dir, process, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start: {log_path.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@dataclass
class Receiver:
    """A local HTTP server that records webhook POSTs; ``fail_first`` answers 500 to that
    many requests first (per URL path)."""

    port: int
    received: list[tuple[str, dict[str, str], dict[str, Any]]]
    fail_first: dict[str, int]

    def url(self, path: str) -> str:
        # "localhost": the allowed host of the test server (loopback IPs are refused).
        return f"http://localhost:{self.port}{path}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, _, body in self.received if p == path]


@dataclass
class Files:
    """A local HTTP server serving bytes by path (image URLs for describe and blend)."""

    port: int
    content: dict[str, tuple[bytes, str]]

    def url(self, path: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"


def serve_receiver() -> Iterator[Receiver]:
    receiver, stop = start_receiver()
    try:
        yield receiver
    finally:
        stop()


def start_receiver(port: int = 0) -> tuple[Receiver, Callable[[], None]]:
    """A ``Receiver`` listening on ``port`` (0: any free one), and the function that stops it."""
    receiver = Receiver(0, [], {})
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                left = receiver.fail_first.get(self.path, 0)
                if left > 0:
                    receiver.fail_first[self.path] = left - 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append((self.path, dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    receiver.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()

    return receiver, stop


def header(headers: dict[str, str], name: str) -> str:
    return {k.lower(): v for k, v in headers.items()}[name.lower()]


def events_once(receiver: Receiver, path: str) -> list[tuple[str, dict[str, Any]]]:
    """What a receiver keeps of the POSTs to ``path``: (event id, body), the first of each
    event id (delivery is at least once; a receiver drops the duplicates)."""
    seen: dict[str, dict[str, Any]] = {}
    for p, headers, body in list(receiver.received):
        if p == path:
            seen.setdefault(header(headers, "X-Dreamloom-Event-Id"), body)
    return list(seen.items())


def children_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux)."""
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def kill_server(server: Server) -> None:
    """SIGKILL the server and any process it started (API processes, workers)."""
    children = children_of(server.process.pid)
    server.process.kill()
    server.process.wait(30)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# A job's expected event statuses at a reply level, from its submission to its end (a job
# that runs once): "progress" events, as many as the run reports, only at level "all".
EXPECTED_EVENTS = {
    "minimal": ["completed"],
    "standard": ["created", "completed"],
    "all": ["created", "started", "progress", "completed"],
}


def check_events(statuses: list[str], level: str) -> None:
    """``statuses`` (one job, duplicates dropped) are the level's events, each once and in
    order (any number of progress events at level "all")."""
    collapsed = [
        s for i, s in enumerate(statuses) if i == 0 or s != "progress" or statuses[i - 1] != s
    ]
    expected = EXPECTED_EVENTS[level]
    if "progress" not in statuses and level == "all":
        expected = [s for s in expected if s != "progress"]
    assert collapsed == expected, statuses


SubmitJob = Callable[[Client, str, str], str]


def imagine_with_webhook(client: Client, reply_url: str, level: str) -> str:
    job = client.submit(
        "/jobs/imagine",
        {"prompt": "a lighthouse in fog --seed 5", "replyUrl": reply_url, "replyLevel": level},
    )
    return str(job["jobid"])


def deliveries_across_a_crash(
    data_dir: Path,
    submit: SubmitJob,
    *,
    processes: int = 1,
    jobs: int = 3,
    check: Callable[[list[str], str], None] = check_events,
    **env: str,
) -> None:
    """Jobs finish while their receiver is down; the server is killed (SIGKILL) and started
    again; then the receiver comes up. Every event arrives, once per event id, in order.

    ``submit(client, reply_url, level)`` queues one job with that webhook and returns its id
    (imagine, describe, ...); jobs alternate between reply levels "standard" and "all".
    ``check(statuses, level)`` judges one job's events, duplicates dropped (a job that a
    restart interrupts hears "created" and "started" again: pass a check that expects it)."""
    port = free_port()  # the receiver's, before it listens: connections are refused
    settings = {
        "DREAMLOOM_RUNNER": "fake",
        "DREAMLOOM_WEBHOOK_ATTEMPTS": "1000",
        "DREAMLOOM_WEBHOOK_BACKOFF_MAX_S": "0.5",
        **env,
    }
    server = start_server(data_dir, processes=processes, **settings)
    levels = ["standard", "all"] * jobs
    try:
        client = server.user("crash-hooks", plan="pro")
        ids = [submit(client, f"http://localhost:{port}/crash/{i}", levels[i]) for i in range(jobs)]
        for job_id in ids:
            assert client.wait(job_id)["status"] == "completed"
        _wait_until_attempted(server, ids)
    finally:
        kill_server(server)
    server = start_server(data_dir, processes=processes, **settings)
    receiver, stop = start_receiver(port)
    try:
        deadline = time.monotonic() + 120
        for i in range(len(ids)):
            path = f"/crash/{i}"
            while not any(b["status"] == "completed" for _, b in events_once(receiver, path)):
                assert time.monotonic() < deadline, (path, receiver.received)
                time.sleep(0.1)
        time.sleep(1.0)  # anything sent twice would have arrived by now
        for i, job_id in enumerate(ids):
            events = events_once(receiver, f"/crash/{i}")
            assert {body["jobid"] for _, body in events} == {job_id}
            check([body["status"] for _, body in events], levels[i])
            if levels[i] == "standard":
                assert events[-1][1]["response"]["attachments"][0]["url"].startswith(server.base)
    finally:
        stop()
        stop_server(server)


def _wait_until_attempted(server: Server, job_ids: list[str], timeout: float = 60) -> None:
    """Until every job's events are in the outbox, pending, and the first was tried (and
    refused: nobody listens)."""
    marks = ",".join("?" * len(job_ids))
    deadline = time.monotonic() + timeout
    while True:
        with server.db() as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'outbox'").fetchone():
                time.sleep(2.0)  # a server without an outbox: give its memory a chance
                return
            ended, tried = db.execute(
                "SELECT count(DISTINCT CASE WHEN status = 'completed' THEN job_id END),"
                " count(DISTINCT CASE WHEN attempts > 0 THEN job_id END)"
                f" FROM outbox WHERE job_id IN ({marks}) AND state = 'pending'",
                job_ids,
            ).fetchone()
        if ended == tried == len(job_ids):
            return
        assert time.monotonic() < deadline, "the jobs' events were never attempted"
        time.sleep(0.1)


def serve_files() -> Iterator[Files]:
    files = Files(0, {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            item = files.content.get(self.path)
            if item is None:
                self.send_response(404)
                self.end_headers()
                return
            data, kind = item
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    files.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield files
    finally:
        httpd.shutdown()


def png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_b64(size: tuple[int, int], box: tuple[int, int, int, int]) -> str:
    """A black mask with a white rectangle (the region to repaint)."""
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()
