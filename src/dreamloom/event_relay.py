"""Job events across the processes of one data directory, over a Unix socket.

The process that dispatches (it holds the data directory's dispatcher lock) serves every
event of its bus on ``relay_socket_path(data_dir)``. Any other process over the same data
directory — the API processes of ``dreamloom serve --processes N``, a CLI command while the
server runs — connects with a :class:`RelayClient`, which republishes those events on its
own bus: its SSE streams, webhooks and waits then see jobs that another process runs. The
client also tells the dispatcher when it has queued work, so a job starts at once instead
of at the dispatcher's next poll of the database.

The wire format is one JSON object per line: events one way, ``{"wake": 1}`` the other.
Preview pictures stay on disk (``preview_path``); their bytes never travel. A client that
connects late, or while the dispatcher restarts, misses the events of that gap: the
database stays the record of every job, events only make watching it cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from dreamloom.events import EventBus, JobEvent, Subscription

log = logging.getLogger(__name__)

SOCKET_NAME = "events.sock"
# sockaddr_un holds 108 bytes with the terminating NUL; a longer data directory path gets
# a socket in the temporary directory, named after it.
_MAX_SOCKET_PATH = 100
_RECONNECT_SECONDS = 0.5
_SEND_TIMEOUT_SECONDS = 5.0
_WAKE = b'{"wake": 1}\n'
# Events waiting for the relay's sender: far more than a burst of submissions produces.
_QUEUE = 100_000


def relay_socket_path(data_dir: Path) -> Path:
    path = data_dir.resolve() / SOCKET_NAME
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(data_dir.resolve())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"dreamloom-{digest}.sock"


def encode(event: JobEvent) -> bytes:
    return (
        json.dumps(
            {
                "job_id": event.job_id,
                "account_id": event.account_id,
                "status": event.status,
                "progress": event.progress,
                "error": event.error,
                "preview_path": event.preview_path,
                "ts": event.ts.isoformat(),
            },
            separators=(",", ":"),
        )
        + "\n"
    ).encode()


def decode(line: bytes) -> JobEvent | None:
    """The event on one line; None for anything else (a wake, garbage)."""
    try:
        data: dict[str, Any] = json.loads(line)
        return JobEvent(
            job_id=str(data["job_id"]),
            account_id=int(data["account_id"]),
            status=str(data["status"]),
            progress=int(data.get("progress") or 0),
            error=data.get("error"),
            preview_path=data.get("preview_path"),
            ts=datetime.fromisoformat(data["ts"]),
            relayed=True,
        )
    except (ValueError, KeyError, TypeError):
        return None


class RelayServer:
    """Serves one bus's events to every connected process; calls ``on_wake`` when told."""

    def __init__(self, bus: EventBus, path: Path, on_wake: Callable[[], None]) -> None:
        self._bus = bus
        self._path = path
        self._on_wake = on_wake
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> RelayServer:
        # The caller holds the dispatcher lock, so a socket file left here is a dead server's.
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o077)  # only this user's processes may connect
        try:
            listener.bind(str(self._path))
        finally:
            os.umask(old_mask)
        listener.listen(64)
        self._listener = listener
        subscription = self._bus.subscribe(None, maxsize=_QUEUE)
        self._spawn(self._accept, "dreamloom-relay-accept")
        self._spawn(lambda: self._send(subscription), "dreamloom-relay-send")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._clients_lock:
            clients = list(self._clients)
            self._clients.clear()
        for client in clients:
            _close(client)
        for thread in self._threads:
            thread.join(2.0)
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    @property
    def clients(self) -> int:
        with self._clients_lock:
            return len(self._clients)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener closed: stopping
            client.settimeout(_SEND_TIMEOUT_SECONDS)
            with self._clients_lock:
                self._clients.add(client)
            threading.Thread(
                target=self._read, args=(client,), name="dreamloom-relay-read", daemon=True
            ).start()

    def _read(self, client: socket.socket) -> None:
        """Wake-ups from one client, until it goes away. Clients send nothing else, so any line
        ending read means at least one (read raw: a timed-out socket file cannot be read again)."""
        try:
            while not self._stop.is_set():
                try:
                    data = client.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                if b"\n" in data:
                    self._on_wake()
        finally:
            self._drop(client)

    def _send(self, subscription: Subscription) -> None:
        try:
            while not self._stop.is_set():
                events = subscription.get_many(timeout=0.5)
                if not events:
                    continue
                data = b"".join(encode(event) for event in events)
                with self._clients_lock:
                    clients = list(self._clients)
                for client in clients:
                    try:
                        client.sendall(data)
                    except OSError:
                        # Gone, or stuck for the send timeout: it reconnects and reads on.
                        self._drop(client)
        finally:
            subscription.close()

    def _drop(self, client: socket.socket) -> None:
        with self._clients_lock:
            self._clients.discard(client)
        _close(client)


class RelayClient:
    """Republishes a dispatching process's events on ``bus``; connects (and reconnects) in
    the background, so it may start before the server does."""

    def __init__(self, bus: EventBus, path: Path) -> None:
        self._bus = bus
        self._path = path
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RelayClient:
        self._thread = threading.Thread(target=self._run, name="dreamloom-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(2.0)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def wake(self) -> None:
        """Ask the dispatcher to look at the queue now (if it is listening)."""
        sock = self._sock
        if sock is None:
            return  # no server: the dispatcher, when there is one, polls the database
        with self._send_lock, contextlib.suppress(OSError):
            sock.sendall(_WAKE)

    def _run(self) -> None:
        while not self._stop.is_set():
            sock = self._connect()
            if sock is None:
                self._stop.wait(_RECONNECT_SECONDS)
                continue
            self._sock = sock
            self._connected.set()
            try:
                self._read(sock)
            finally:
                self._connected.clear()
                self._sock = None
                _close(sock)

    def _connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            return None
        return sock

    def _read(self, sock: socket.socket) -> None:
        stream = sock.makefile("rb")
        try:
            while not self._stop.is_set():
                try:
                    line = stream.readline()
                except OSError:
                    return
                if not line:
                    return  # the server went away: reconnect
                event = decode(line)
                if event is not None:
                    self._bus.publish(event)
        finally:
            stream.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
