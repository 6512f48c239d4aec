"""Job events across processes (dreamloom.event_relay) and the cross-process SQLite write lock.

The relay is exercised over real Unix sockets; the service-level test runs a dispatching
service and a second, non-dispatching one (what a CLI command or an API process of a
multi-process server is) over one data directory.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from dreamloom.config import Settings
from dreamloom.event_relay import RelayClient, RelayServer, decode, encode, relay_socket_path
from dreamloom.events import EventBus, JobEvent
from dreamloom.service import Service
from dreamloom.store.db import SQLiteWriteLock


def _drain(bus_sub: object, count: int, timeout: float = 10.0) -> list[JobEvent]:
    events: list[JobEvent] = []
    deadline = time.monotonic() + timeout
    while len(events) < count and time.monotonic() < deadline:
        event = bus_sub.get(timeout=0.2)  # type: ignore[attr-defined]
        if event is not None:
            events.append(event)
    return events


def test_an_event_survives_the_wire_and_is_marked_relayed() -> None:
    event = JobEvent("j1", 7, "progress", progress=40, error=None, preview_path="p/j1.webp")
    back = decode(encode(event))
    assert back is not None
    assert (back.job_id, back.account_id, back.status, back.progress, back.preview_path) == (
        "j1",
        7,
        "progress",
        40,
        "p/j1.webp",
    )
    assert back.ts == event.ts and back.relayed and not event.relayed
    assert decode(b'{"wake": 1}\n') is None and decode(b"\xff garbage") is None


def test_events_reach_a_client_in_order_and_wakes_reach_the_server(tmp_path: Path) -> None:
    path = relay_socket_path(tmp_path)
    source, copy = EventBus(), EventBus()
    woken = threading.Event()
    # The client starts first: it keeps trying until the server listens.
    client = RelayClient(copy, path).start()
    server = RelayServer(source, path, woken.set).start()
    try:
        assert client.wait_connected(10)
        received = copy.subscribe(None, maxsize=1000)
        deadline = time.monotonic() + 10
        while server.clients < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(500):
            source.publish(JobEvent(f"job{i % 5}", 1, "progress", progress=i % 100))
        events = _drain(received, 500)
        assert [(e.job_id, e.progress) for e in events] == [
            (f"job{i % 5}", i % 100) for i in range(500)
        ]
        assert all(e.relayed for e in events)
        seqs = [e.seq for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == 500
        client.wake()
        assert woken.wait(5)
    finally:
        server.stop()
    # The server went away: the client notices, and reconnects to the next one.
    deadline = time.monotonic() + 10
    while client.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.connected
    again = RelayServer(source, path, lambda: None).start()
    try:
        assert client.wait_connected(10)
    finally:
        client.stop()
        again.stop()
    assert not path.exists()


def test_a_long_data_directory_gets_a_short_socket_path(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 6))
    path = relay_socket_path(deep)
    assert len(str(path)) <= 100
    assert path == relay_socket_path(deep)  # every process finds the same one
    assert relay_socket_path(tmp_path) == tmp_path.resolve() / "events.sock"


def test_sqlite_writers_of_different_processes_take_turns(tmp_path: Path) -> None:
    """Two locks on one database file exclude each other like two processes' would (flock
    locks belong to open files, not processes), and a waiter goes on as soon as it's free."""
    database = str(tmp_path / "dreamloom.db")
    first, second = SQLiteWriteLock(database), SQLiteWriteLock(database)
    order: list[str] = []
    got_it = threading.Event()

    def other_process() -> None:
        with second:
            order.append("second")
            got_it.set()

    with first:
        with first:  # re-entrant, like nested write sessions
            thread = threading.Thread(target=other_process)
            thread.start()
            assert not got_it.wait(0.3)
        assert not got_it.wait(0.1)  # still held by the outer block
        order.append("first done")
    assert got_it.wait(5)
    thread.join(5)
    assert order == ["first done", "second"]
    first.close()
    second.close()


def test_a_second_process_hears_every_event_and_wakes_the_scheduler(tmp_path: Path) -> None:
    """A job queued by a non-dispatching service (a CLI command, an API process) starts at
    once, though the scheduler looks at the database only once a minute here, and that
    service hears the job's whole life as events."""
    settings = Settings(data_dir=tmp_path, model="tiny", runner="fake", workers=1)
    with Service(settings) as server:
        assert server.dispatching and server.hears_events
        assert server.runtime.dispatcher is not None
        server.runtime.dispatcher.poll_seconds = 60.0
        time.sleep(0.7)  # the poll already under way ends; the next one waits a minute
        with Service(settings, dispatch=False) as other:
            assert not other.dispatching
            assert other.wait_for_events(10) and other.hears_events
            account = other.ensure_user("relay")
            everything = other.events.subscribe(None)
            (job,) = other.submit_imagine(account, "a cat --seed 1")
            progress: list[int] = []
            done = other.wait(job.id, on_progress=progress.append, timeout=30)
            assert done.status == "completed"
            events = [e for e in _drain(everything, 50, timeout=1.0) if e.job_id == job.id]
    statuses = [e.status for e in events]
    assert statuses[0] == "created" and not events[0].relayed
    assert "started" in statuses and statuses[-1] == "completed"
    assert all(e.relayed for e in events[1:])
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert progress[-1] == 100
