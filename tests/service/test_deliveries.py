"""The delivery worker over a real database and a fake network: order per lane, retries with
backoff, giving up, and one slow receiver holding up nobody else."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from dreamloom.config import Settings
from dreamloom.domain import DeliveryState
from dreamloom.service.deliveries import DeliveryEvent, DeliveryWorker, backoff_delay
from dreamloom.store import accounts, jobs_repo, outbox
from dreamloom.store.db import Database, upgrade
from dreamloom.store.jobs_repo import Completion, JobSpec

# A public address literal: no name to resolve, and the fake transport answers for it.
PUBLIC = "http://93.184.216.34"
T0 = datetime(2025, 5, 1, 10, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'test.db'}")
    upgrade(database)
    yield database
    database.dispose()


def finished_job(db: Database, path: str, level: str = "all") -> str:
    """A job with one webhook that was queued, started and completed."""
    with db.session(write=True) as session:
        account = accounts.get_account_by_name(session, "ada") or accounts.create_account(
            session, "ada", "standard", now=T0
        )
        targets = outbox.webhook_targets([PUBLIC + path], level)
        (row,) = jobs_repo.new_jobs(
            account.id, [JobSpec(verb="imagine", mode="fast", deliveries=targets)], T0
        )
        jobs_repo.insert_jobs(session, [row])
        jobs_repo.start_jobs(session, [(row.id, "fast")], T0)
        jobs_repo.complete_jobs(session, [Completion(row.id, 1.0, 1.0)], T0)
    return row.id


def render(view: Any, event: DeliveryEvent) -> tuple[str, dict[str, Any]]:
    return f"job_{event.status}", {"jobid": view.id, "status": event.status}


def run_worker(db: Database, handler: Handler, **settings: Any) -> DeliveryWorker:
    worker = DeliveryWorker(
        db,
        Settings(data_dir=Path("/nonexistent"), webhook_backoff_s=0.05, **settings),
        lambda job_id: SimpleNamespace(id=job_id),  # type: ignore[arg-type,return-value]
        render,
        transport=httpx.MockTransport(handler),
    )
    worker.start()
    return worker


def states(db: Database, job_id: str) -> list[tuple[str, str, int]]:
    with db.session() as session:
        return [(e.status, e.state, e.attempts) for e in outbox.entries_of(session, job_id)]


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_delay(0.5, n, 3.0) for n in (1, 2, 3, 4, 5, 1000)] == [
        0.5,
        1.0,
        2.0,
        3.0,
        3.0,
        3.0,
    ]


def test_a_lanes_events_go_in_order_after_retries_each_with_its_id(db: Database) -> None:
    job_id = finished_job(db, "/hook")
    seen: list[httpx.Request] = []
    failures = iter([500, 503])

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(failures, 204))

    worker = run_worker(db, answer)
    try:
        wait_until(lambda: all(s == DeliveryState.DELIVERED for _, s, _ in states(db, job_id)))
    finally:
        worker.stop()
    bodies = [json.loads(r.content) for r in seen]
    assert [b["status"] for b in bodies] == [
        "created",
        "created",
        "created",
        "started",
        "completed",
    ]
    assert [r.headers["x-dreamloom-seq"] for r in seen] == ["1", "1", "1", "2", "3"]
    assert [r.headers["x-dreamloom-event"] for r in seen][-1] == "job_completed"
    ids = [r.headers["x-dreamloom-event-id"] for r in seen]
    assert ids[0] == ids[1] == ids[2] and len(set(ids)) == 3  # a retry is the same event
    assert states(db, job_id)[0] == ("created", DeliveryState.DELIVERED, 3)


def test_an_event_is_given_up_after_its_attempts_and_the_next_one_goes(db: Database) -> None:
    job_id = finished_job(db, "/down", level="standard")

    async def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    worker = run_worker(db, answer, webhook_attempts=2)
    try:
        wait_until(lambda: all(s == DeliveryState.GIVEN_UP for _, s, _ in states(db, job_id)))
    finally:
        worker.stop()
    assert states(db, job_id) == [
        ("created", DeliveryState.GIVEN_UP, 2),
        ("completed", DeliveryState.GIVEN_UP, 2),
    ]


def test_a_private_address_is_given_up_at_once_without_a_request(db: Database) -> None:
    with db.session(write=True) as session:
        account = accounts.create_account(session, "ada", "standard", now=T0)
        (row,) = jobs_repo.new_jobs(
            account.id,
            [
                JobSpec(
                    verb="imagine",
                    mode="fast",
                    deliveries=outbox.webhook_targets(["http://127.0.0.1:9/x"], "minimal"),
                )
            ],
            T0,
        )
        jobs_repo.insert_jobs(session, [row])
        jobs_repo.start_jobs(session, [(row.id, "fast")], T0)
        jobs_repo.complete_jobs(session, [Completion(row.id, 1.0, 1.0)], T0)
    calls: list[httpx.Request] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(204)

    worker = run_worker(db, answer)
    try:
        wait_until(lambda: states(db, row.id)[0][1] == DeliveryState.GIVEN_UP)
    finally:
        worker.stop()
    assert calls == [] and states(db, row.id) == [("completed", DeliveryState.GIVEN_UP, 1)]


def test_a_slow_receiver_holds_up_only_its_own_lane(db: Database) -> None:
    slow = finished_job(db, "/slow", level="minimal")
    fast = finished_job(db, "/fast", level="minimal")
    release = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slow":
            await asyncio.wait_for(release.wait(), 5)
        return httpx.Response(204)

    worker = run_worker(db, answer)
    try:
        wait_until(lambda: states(db, fast)[0][1] == DeliveryState.DELIVERED, timeout=3)
        assert states(db, slow)[0][1] == DeliveryState.PENDING
    finally:
        worker.stop()


def test_a_renderer_that_fails_counts_as_a_failed_attempt(db: Database) -> None:
    """A lasting fault backs off and gives up like a receiver's, rather than spinning."""
    job_id = finished_job(db, "/broken", level="minimal")

    def broken(view: Any, event: DeliveryEvent) -> tuple[str, dict[str, Any]]:
        raise RuntimeError("no shape for this")

    async def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204)

    worker = DeliveryWorker(
        db,
        Settings(data_dir=Path("/nonexistent"), webhook_backoff_s=0.05, webhook_attempts=3),
        lambda job_id: SimpleNamespace(id=job_id),  # type: ignore[arg-type,return-value]
        broken,
        transport=httpx.MockTransport(answer),
    )
    worker.start()
    try:
        wait_until(lambda: states(db, job_id)[0][1] == DeliveryState.GIVEN_UP)
    finally:
        worker.stop()
    assert states(db, job_id) == [("completed", DeliveryState.GIVEN_UP, 3)]
    with db.session() as session:
        (entry,) = outbox.entries_of(session, job_id)
    assert entry.last_error == "internal error: RuntimeError"
