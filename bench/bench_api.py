"""The REST API under load, with the engine replaced by an instant fake.

Starts ``dreamloom serve`` (SQLite, the ``instant`` runner) in a subprocess on 127.0.0.1
and measures:

1. submissions: ``--clients`` concurrent clients (one account each) POST
   ``/v3/midjourney/jobs/imagine`` with ``stream: false``, ``--per-client`` times each, one
   request at a time per client, over the keep-alive connection on which it first sent two
   unmeasured ones (the steady state is measured: 50 connections opened at once, and tokens
   looked up for the first time, made the p99 of a short run). Printed: submissions per
   second, and p50/p99 latency of a submission as the client sees it, for each
   ``--processes`` count (API processes beside the scheduler's), with the ratio to the first
   (the baseline).
2. the scheduler's pace: ``--drain`` jobs are queued while the scheduler is held off, then a
   server that schedules is started over them, and timed until the instant runner has run
   them all. Printed: jobs run per second and the server's CPU per job, with ``--workers``
   worker processes, without jobs started ahead (the baseline) and with ``--worker-queue``.
3. SSE streams: a second server whose scheduler is held off (this process takes the data
   directory's dispatcher lock first, so jobs stay queued and their streams stay open);
   streams are opened until ``--streams`` are open at once, held for ``--hold`` seconds, and
   counted. Printed: how many concurrent streams the server held.

Everything is bounded (request counts, stream count, timeouts) and the script exits by itself.

    python bench/bench_api.py                       # 50 clients x 40, 1 and 2 API processes
    python bench/bench_api.py --streams 3000 --hold 15
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx

ADMIN = "bench-admin"
# Limits out of the way: the bench measures the API, not the plan's queue rules.
PLANS = {
    "plans": {
        "bench": {
            "monthly_fast_minutes": 10_000_000,
            "relax_allowed": True,
            "concurrency": 100_000,
            "relax_concurrency": 100_000,
            "queue_depth": 1_000_000,
            "batch_cap": 4,
        }
    }
}


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    data_dir: Path, *, processes: int = 1, workers: int = 2, worker_queue: int = 0
) -> Iterator[tuple[str, int]]:
    """The base URL and process id of a running ``dreamloom serve``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    plans = data_dir / "plans.json"
    plans.write_text(json.dumps(PLANS))
    port = _free_port()
    env = {
        **os.environ,
        "DREAMLOOM_DATA_DIR": str(data_dir),
        "DREAMLOOM_RUNNER": "instant",
        "DREAMLOOM_WORKERS": str(workers),
        "DREAMLOOM_WORKER_QUEUE": str(worker_queue),
        "DREAMLOOM_PLANS_FILE": str(plans),
        "DREAMLOOM_ADMIN_TOKEN": ADMIN,
        "DREAMLOOM_IMAGE_MODERATION_THRESHOLD": "2",  # nothing to classify in fake images
        # Lanes out of the way too: by default they hold at most the reference's 15 jobs.
        "DREAMLOOM_CHANNEL_MAX_JOBS": "1000000",
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
        "error",
        "--no-access-log",
        "--processes",
        str(processes),
    ]
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log, preexec_fn=_raise_fd_limit)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError((data_dir / "server.log").read_text())
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def scheduler_held(data_dir: Path) -> Iterator[None]:
    """A server started over ``data_dir`` meanwhile does not schedule: this process holds the
    data directory's dispatcher lock."""
    with (data_dir / "dispatcher.lock").open("a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def make_users(base: str, count: int, prefix: str) -> list[str]:
    tokens = []
    for i in range(count):
        response = httpx.post(
            f"{base}/native/users",
            json={"name": f"{prefix}{i}", "plan": "bench"},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=30,
        )
        response.raise_for_status()
        tokens.append(response.json()["token"])
    return tokens


# -- 1. submissions --------------------------------------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for JSON POSTs.

    The load generator shares the machine with the server: a full client library costs
    about a millisecond of CPU per request, which the server would then not get."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, base: str) -> _Connection:
        host, port = base.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post(self, path: str, token: str, payload: dict[str, object]) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _submissions(
    base: str,
    tokens: list[str],
    per_client: int,
    rate: float | None = None,
    *,
    warm: int = 2,
    on_start: Callable[[], None] | None = None,
) -> tuple[float, list[float], int]:
    """Each client (one per token) opens a keep-alive connection, sends ``warm`` submissions
    that are not measured (its token then looked up by the process that holds the
    connection, as in a steady state), waits for the others, then sends ``per_client``.
    ``rate``: submissions per second offered by all clients together, evenly staggered (open
    loop); latency then counts from when a request was due, so a slow answer that delays the
    next send is not hidden. None: each client sends its next request when the last one is
    answered. Returns the measured phase's duration, latencies and failures; ``on_start`` is
    called as it begins."""
    latencies: list[float] = []
    ready = asyncio.Barrier(len(tokens))
    clock: dict[str, float] = {}
    interval = len(tokens) / rate if rate else 0.0

    async def client(index: int, token: str) -> int:
        failures = 0
        connection = await _Connection.open(base)

        async def imagine(i: int) -> None:
            nonlocal failures
            status, body = await connection.post(
                "/v3/midjourney/jobs/imagine",
                token,
                {"prompt": f"a lighthouse number {i} --seed {abs(i)}", "stream": False},
            )
            if status != 201 or b'"jobid"' not in body:
                failures += 1

        try:
            for i in range(warm):
                await imagine(-1 - i)
            if await ready.wait() == 0:  # one of the clients starts the clock
                clock["start"] = time.perf_counter()
                if on_start is not None:
                    on_start()
            await ready.wait()
            first = clock["start"] + 0.05 + index * interval / len(tokens)
            for i in range(per_client):
                start = time.perf_counter()
                if rate:
                    due = first + i * interval
                    if due > start:
                        await asyncio.sleep(due - start)
                    start = due
                await imagine(i)
                latencies.append(time.perf_counter() - start)
        finally:
            connection.close()
        return failures

    failures = await asyncio.gather(*(client(i, t) for i, t in enumerate(tokens)))
    return time.perf_counter() - clock["start"], latencies, sum(failures)


def bench_submissions(
    root: Path, clients: int, per_client: int, processes: int, rates: Sequence[float] = ()
) -> float:
    """Returns submissions per second (closed loop); then, for each of ``rates``, the latency
    of submissions offered at that rate."""
    with server(root / f"submissions-{processes}", processes=processes) as (base, pid):
        tokens = make_users(base, clients, "client")
        database = root / f"submissions-{processes}" / "dreamloom.db"
        marks: dict[str, Any] = {}

        def at_start() -> None:
            marks["done"] = _job_counts(database).get("completed", 0)
            marks["cpu"], marks["machine"] = _cpu_seconds(pid), _machine_times()

        elapsed, latencies, failures = asyncio.run(
            _submissions(base, tokens, per_client, on_start=at_start)
        )
        done_before, before = marks["done"], marks["cpu"]
        after, stolen = _cpu_seconds(pid), _stolen_since(marks["machine"])
        counts = _job_counts(database)
        paced = []
        for rate in rates:
            machine = _machine_times()
            result = asyncio.run(_submissions(base, tokens, per_client, rate))
            paced.append((rate, result, _stolen_since(machine)))
    latencies.sort()
    total = len(latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(total - 1, int(total * 0.99))] * 1000
    rate = total / elapsed
    cpu = {k: (after[k] - before.get(k, 0.0)) * 1000 / total for k in after}
    print(
        f"submissions, {processes} API process{'es' if processes > 1 else ''}: "
        f"{clients} clients x {per_client} = {total} in {elapsed:.2f} s -> "
        f"{rate:.0f} submissions/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
        f"failures {failures}  (target >= 500/s, p99 < 100 ms)\n"
        f"  CPU per submission: {cpu['all']:.2f} ms in all the server's processes, "
        f"{cpu['main']:.2f} ms of it in the serving process"
        f"{' (scheduler)' if processes > 1 else ''}; "
        f"{stolen:.0%} of the machine's CPU time was taken by its host meanwhile (steal)\n"
        f"  jobs run meanwhile by the instant runner: "
        f"{(counts.get('completed', 0) - done_before) / elapsed:.0f}/s; "
        f"still queued at the end: {counts.get('created', 0)}"
    )
    for offered, (took, paced_latencies, paced_failures), paced_steal in paced:
        paced_latencies.sort()
        count = len(paced_latencies)
        print(
            f"  offered {offered:.0f}/s by the same clients (open loop): {count / took:.0f}/s "
            f"answered; latency from when each was due p50 "
            f"{statistics.median(paced_latencies) * 1000:.1f} ms, "
            f"p99 {paced_latencies[min(count - 1, int(count * 0.99))] * 1000:.1f} ms; "
            f"failures {paced_failures}; steal {paced_steal:.0%}"
        )
    return rate


def _job_counts(database: Path) -> dict[str, int]:
    """Jobs by status, read straight from the server's SQLite file."""
    with closing(sqlite3.connect(database, timeout=30)) as connection:
        return dict(connection.execute("SELECT status, count(*) FROM jobs GROUP BY status"))


def _machine_times() -> list[int]:
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def _stolen_since(before: list[int]) -> float:
    """The share of CPU time a virtual machine's host took (steal) since ``before``: figures
    taken while it is high are not comparable with quiet ones."""
    delta = [b - a for a, b in zip(before, _machine_times(), strict=False)]
    return delta[7] / max(1, sum(delta)) if len(delta) > 7 else 0.0


def _cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of process ``pid`` ("main") and of it with every
    descendant ("all"), from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")

    def own(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    def children(p: int) -> list[int]:
        found: list[int] = []
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return found

    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += own(p)
        todo += children(p)
    return {"main": own(pid), "all": total}


# -- 2. the scheduler's pace ----------------------------------------------------------------


def bench_drain(root: Path, jobs: int, workers: int, worker_queue: int) -> float:
    """Returns jobs run per second."""
    data = root / f"drain-{worker_queue}"
    data.mkdir(parents=True, exist_ok=True)
    with scheduler_held(data), server(data) as (base, _pid):
        tokens = make_users(base, 20, "drainer")
        asyncio.run(_submissions(base, tokens, max(1, jobs // len(tokens)), warm=0))
    queued = _job_counts(data / "dreamloom.db").get("created", 0)
    with server(data, workers=workers, worker_queue=worker_queue) as (_base, pid):
        # Timed from when the server answers: its start (workers spawned) is not the pace.
        start, cpu_before = time.perf_counter(), _cpu_seconds(pid)
        deadline = start + 600
        while _job_counts(data / "dreamloom.db").get("completed", 0) < queued:
            if time.perf_counter() > deadline:
                break
            time.sleep(0.05)
        elapsed, cpu_after = time.perf_counter() - start, _cpu_seconds(pid)
        counts = _job_counts(data / "dreamloom.db")
    done = counts.get("completed", 0)
    per_job = {k: (cpu_after[k] - cpu_before[k]) * 1000 / max(1, done) for k in cpu_after}
    print(
        f"scheduler, {workers} workers, {worker_queue} jobs started ahead per worker: "
        f"{done} of {queued} queued jobs run in {elapsed:.2f} s -> "
        f"{done / elapsed:.0f} jobs/s; CPU per job {per_job['all']:.1f} ms in all the server's "
        f"processes, {per_job['main']:.1f} ms of it in the scheduling process"
    )
    return done / elapsed


# -- 3. SSE streams --------------------------------------------------------------------------


async def _open_stream(
    base: str, token: str, opened: asyncio.Event, hold: asyncio.Event, counts: dict[str, int]
) -> None:
    """Open one stream (raw HTTP/1.1: a stream costs a socket here, not a client object)."""
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"prompt": "a held stream"}).encode()
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        counts["refused"] += 1
        opened.set()
        return
    writer.write(
        b"POST /v3/midjourney/jobs/imagine HTTP/1.1\r\n"
        + f"Host: {host}\r\nAuthorization: Bearer {token}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    try:
        await writer.drain()
        seen = b""
        while b"midjourney_created" not in seen:
            chunk = await asyncio.wait_for(reader.read(65536), 60)
            if not chunk:
                raise ConnectionError("closed")
            seen += chunk
        counts["open"] += 1
        opened.set()
        await hold.wait()
        # Still open after the hold: the server kept it.
        writer.write(b"")
        if reader.at_eof():
            counts["dropped"] += 1
        else:
            counts["held"] += 1
    except (OSError, ConnectionError, TimeoutError):
        counts["failed"] += 1
        opened.set()
    finally:
        writer.close()


async def _streams(base: str, tokens: list[str], target: int, hold_s: float) -> dict[str, int]:
    counts = {"open": 0, "held": 0, "dropped": 0, "failed": 0, "refused": 0}
    hold = asyncio.Event()
    tasks = []
    deadline = time.monotonic() + 300
    for i in range(target):
        opened = asyncio.Event()
        task = asyncio.create_task(
            _open_stream(base, tokens[i % len(tokens)], opened, hold, counts)
        )
        tasks.append(task)
        if i % 50 == 49:
            await asyncio.sleep(0)  # let the batch connect
        if time.monotonic() > deadline:
            break
    while counts["open"] + counts["failed"] + counts["refused"] < len(tasks):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(hold_s)
    hold.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counts


def bench_streams(root: Path, target: int, hold_s: float) -> None:
    _raise_fd_limit()
    data = root / "streams"
    data.mkdir(parents=True, exist_ok=True)
    # Every job stays queued, so every stream stays open until this process lets go.
    with scheduler_held(data), server(data) as (base, _pid):
        tokens = make_users(base, 20, "streamer")
        start = time.perf_counter()
        counts = asyncio.run(_streams(base, tokens, target, hold_s))
        elapsed = time.perf_counter() - start
    print(
        f"SSE: {counts['held']} of {target} concurrent streams held open for {hold_s:.0f} s "
        f"(opened {counts['open']}, dropped {counts['dropped']}, failed {counts['failed']}, "
        f"refused {counts['refused']}; {elapsed:.1f} s in all)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=40)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=5.0)
    parser.add_argument("--skip-streams", action="store_true")
    parser.add_argument(
        "--drain", type=int, default=1000, help="jobs for the scheduler's pace (0: skip)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--worker-queue",
        type=int,
        default=4,
        help="DREAMLOOM_WORKER_QUEUE compared with 0 (the baseline) in the scheduler's pace",
    )
    parser.add_argument(
        "--rates",
        default="300,400,500",
        help="offered submissions/s for the open-loop latency runs (empty: none)",
    )
    parser.add_argument(
        "--processes",
        default="1,2",
        help="API process counts to compare (dreamloom serve --processes), the first the baseline",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        counts = [int(n) for n in args.processes.split(",") if n.strip()]
        offered = [float(r) for r in args.rates.split(",") if r.strip()]
        rates = [bench_submissions(root, args.clients, args.per_client, n, offered) for n in counts]
        for n, rate in zip(counts[1:], rates[1:], strict=True):
            print(f"  {n} API processes / {counts[0]}: {rate / rates[0]:.2f}x the submissions/s")
        if args.drain:
            paces = [bench_drain(root, args.drain, args.workers, q) for q in (0, args.worker_queue)]
            print(
                f"  {args.worker_queue} jobs started ahead per worker / none: "
                f"{paces[1] / paces[0]:.2f}x the jobs/s"
            )
        if not args.skip_streams:
            bench_streams(root, args.streams, args.hold)


if __name__ == "__main__":
    main()
