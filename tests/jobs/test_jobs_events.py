"""The in-process event bus."""

from __future__ import annotations

import asyncio
import itertools
import threading

from dreamloom.events import EventBus, JobEvent


def ev(job_id: str, status: str = "progress", progress: int = 0) -> JobEvent:
    return JobEvent(job_id=job_id, account_id=1, status=status, progress=progress)


def test_subscribers_get_their_jobs_events_with_increasing_seq() -> None:
    bus = EventBus()
    one, everything = bus.subscribe("a"), bus.subscribe()
    for status in ("created", "started", "progress", "completed"):
        bus.publish(ev("a", status))
        bus.publish(ev("b", status))
    got = [one.get(0.1) for _ in range(4)]
    assert [e.status for e in got if e] == ["created", "started", "progress", "completed"]
    seqs = [e.seq for e in got if e]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert one.get(0.01) is None  # nothing of job b
    assert len([everything.get(0.1) for _ in range(8)]) == 8
    assert got[-1] is not None and got[-1].terminal and got[-1].ts.tzinfo is not None


def test_close_detaches_and_unblocks() -> None:
    bus = EventBus()
    sub = bus.subscribe("a")
    assert bus.subscriber_count() == 1
    results: list[JobEvent | None] = []
    waiter = threading.Thread(target=lambda: results.append(sub.get(5)))
    waiter.start()
    sub.close()
    waiter.join(2)
    assert results == [None] and not waiter.is_alive()
    assert bus.subscriber_count() == 0
    bus.publish(ev("a"))
    assert sub.get(0) is None
    with bus.subscribe() as other:
        assert bus.subscriber_count() == 1
    assert other.closed and bus.subscriber_count() == 0


def test_a_slow_subscriber_loses_progress_never_status_changes() -> None:
    bus = EventBus(subscriber_maxsize=3)
    sub = bus.subscribe("a")
    bus.publish(ev("a", "started"))
    for i in range(10):
        bus.publish(ev("a", "progress", i))
    bus.publish(ev("a", "completed"))
    events = []
    while (event := sub.get_nowait()) is not None:
        events.append(event)
    assert next(e.status for e in events) == "started"
    assert events[-1].status == "completed"
    assert len(events) <= 4 and sub.dropped >= 8
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_concurrent_publishers_keep_per_job_order() -> None:
    bus = EventBus(subscriber_maxsize=10_000)
    subs = {job: bus.subscribe(job) for job in ("a", "b", "c")}

    def publish(job: str) -> None:
        for i in range(300):
            bus.publish(ev(job, progress=i))

    threads = [threading.Thread(target=publish, args=(j,)) for j in subs for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for sub in subs.values():
        seqs = []
        while (event := sub.get_nowait()) is not None:
            seqs.append(event.seq)
        assert len(seqs) == 600
        assert all(a < b for a, b in itertools.pairwise(seqs))


def test_usable_from_asyncio_through_a_thread() -> None:
    bus = EventBus()
    sub = bus.subscribe("a")

    async def consume() -> list[str]:
        statuses = []
        while True:
            event = await asyncio.to_thread(sub.get, 1.0)
            assert event is not None
            statuses.append(event.status)
            if event.terminal:
                return statuses

    async def main() -> list[str]:
        task = asyncio.create_task(consume())
        for status in ("started", "progress", "failed"):
            await asyncio.sleep(0.01)
            bus.publish(ev("a", status))
        return await task

    assert asyncio.run(main()) == ["started", "progress", "failed"]


def test_get_many_takes_what_waits_in_order_up_to_a_limit() -> None:
    bus = EventBus()
    sub = bus.subscribe(None)
    assert sub.get_many(timeout=0.05) == []
    for i in range(5):
        bus.publish(ev(f"j{i}", "created"))
    first = sub.get_many(timeout=1, limit=3)
    assert [e.job_id for e in first] == ["j0", "j1", "j2"]
    assert [e.job_id for e in sub.get_many(timeout=1)] == ["j3", "j4"]
    sub.close()
