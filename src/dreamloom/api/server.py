"""Running the HTTP server: in one process, or as a scheduler with several API processes.

One process (the embedded default) runs everything: HTTP, admission, the scheduler and its
workers. With ``processes > 1`` this process keeps the scheduler, the workers and the event
relay, and starts that many API processes, each a uvicorn server on its own SO_REUSEPORT
socket (``api.listen``: a port another program or server listens on is refused, in both
modes); an API process ends when this process dies (``api.lifeline``). They admit jobs into
the shared database (SQLite serialises their writes, PostgreSQL locks rows), wake the
scheduler, and hear every job's events through ``dreamloom.event_relay``.
Python runs one thread at a time per process: this is how a server uses more cores for requests.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from dreamloom.api import lifeline, listen
from dreamloom.config import Settings

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# An API process that dies sooner than this after its start is not started again.
_MIN_LIFETIME_SECONDS = 10.0


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    processes: int = 1,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    import uvicorn

    from dreamloom.api.app import create_app

    settings = with_public_url(settings, host, port)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
    }
    if processes <= 1:
        # Bound before the app starts: a busy port is refused before the database is touched.
        sock = listen.exclusive_socket(host, port)
        server = uvicorn.Server(uvicorn.Config(create_app(settings, settle_heap=True), **options))
        server.run(sockets=[sock])
        if not server.started:
            raise RuntimeError("the server did not start; see its log")
        return

    from dreamloom.api.v3.webhooks import webhook_renderer
    from dreamloom.service import Service

    # Bound before the scheduler starts, and held by this process for its lifetime.
    sockets = listen.shared_sockets(host, port, processes)
    try:
        with Service(settings, renderer=webhook_renderer(settings)) as service:
            if not service.dispatching:
                raise RuntimeError(
                    f"another process already runs the scheduler of {settings.data_dir}; "
                    "stop it first"
                )
            settle_heap()
            if settings.scheduler_nice:
                service.lower_scheduler_priority(settings.scheduler_nice)
            # The API processes are fresh interpreters: they read their settings from the
            # environment, and never schedule.
            env = settings_env(settings) | {"DREAMLOOM_DISPATCH": "false"}
            _supervise(sockets, env, options)
    finally:
        for sock in sockets:
            sock.close()


def with_public_url(settings: Settings, host: str, port: int) -> Settings:
    """``settings`` with ``public_url`` set: as configured, else the address served. A
    wildcard bind (0.0.0.0, ::) names no address clients use: the machine's name stands in
    for it, with a hint to set the URL."""
    if settings.public_url:
        return settings
    if host in ("0.0.0.0", "::", ""):
        name = socket.gethostname() or "localhost"
        print(
            f"links will use http://{name}:{port}; set DREAMLOOM_PUBLIC_URL to the address "
            "clients reach this server at",
            file=sys.stderr,
        )
        host = name
    netloc = f"[{host}]" if ":" in host else host
    return settings.model_copy(update={"public_url": f"http://{netloc}:{port}"})


def _supervise(sockets: list[socket.socket], env: dict[str, str], options: dict[str, Any]) -> None:
    """Run an API process per socket until SIGINT or SIGTERM, starting again any that dies.

    Each process listens on its own SO_REUSEPORT socket, so the kernel spreads connections
    evenly over them. (uvicorn's own workers share one socket, and whichever process is
    idle at that moment accepts: a burst of keep-alive clients ended up 39 to 11, and the
    busier process set everyone's latency.) This process keeps the sockets open too: the
    connections waiting on a dead process's socket go to the process started in its place."""
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start(sock: socket.socket) -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_api_process, args=(env, options, sock, os.getpid()), daemon=True
        )
        process.start()
        return process

    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    children = [(start(sock), time.monotonic()) for sock in sockets]
    try:
        while not stop.wait(0.5):
            for i, (child, started) in enumerate(children):
                if child.is_alive():
                    continue
                if time.monotonic() - started < _MIN_LIFETIME_SECONDS:
                    # Dying at once (the port is taken, the app does not start) would only
                    # repeat: give up, and say so.
                    raise RuntimeError(
                        f"an API process exited at start (code {child.exitcode}); see its log"
                    )
                children[i] = (start(sockets[i]), time.monotonic())
    finally:
        for child, _ in children:
            child.terminate()
        for child, _ in children:
            child.join(30)
            if child.is_alive():
                child.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _api_process(
    env: dict[str, str], options: dict[str, Any], sock: socket.socket, parent: int
) -> None:
    import uvicorn

    lifeline.die_with_parent(parent)
    os.environ.update(env)
    config = uvicorn.Config("dreamloom.api.app:create_served_app", factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


# The cyclic collector's generation thresholds once a server has started (Python's are
# 700, 10, 10). A request's objects live tens of milliseconds; with a young generation of
# 700 objects nearly every request in flight was caught by a collection, promoted, and then
# counted towards a full collection, a pause of every request of the process. In a run of
# bench/bench_api.py (6,000 submissions, 2 API processes) each API process collected about
# 500 times (4 of them full, 10-30 ms of CPU each), 3 % of its CPU; with 10,000 it did not
# collect at all: the requests' objects die by reference counting first.
GC_THRESHOLDS = (10_000, 10, 10)


def settle_heap() -> None:
    """Put everything a started server holds (libraries, models, caches) out of the cyclic
    garbage collector's sight: it lives as long as the process anyway. Otherwise every full
    collection walks it all, about 150 ms with torch and diffusers loaded, and every request
    in flight waits that long: that was the p99 latency of submissions. Then let the young
    generation grow to ``GC_THRESHOLDS``."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def settings_env(settings: Settings) -> dict[str, str]:
    """``DREAMLOOM_*`` variables from which ``Settings()`` rebuilds ``settings``."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"DREAMLOOM_{name.upper()}"] = text
    return env
