"""The outbox: a job's state changes write its events for its targets in the same transaction;
the worker's queries take one entry per lane, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select

from dreamloom.domain import DeliveryState
from dreamloom.store import accounts, jobs_repo, outbox
from dreamloom.store.db import Database
from dreamloom.store.jobs_repo import Completion, JobSpec
from dreamloom.store.tables import OutboxEntry

T0 = datetime(2025, 5, 1, 10, 0, tzinfo=UTC)
HOOK = "https://hooks.example/a"
CHANNEL_HOOK = "https://hooks.example/channel"


def make_account(db: Database) -> int:
    with db.session() as session:
        return accounts.create_account(session, "ada", "standard", now=T0).id


def queue(db: Database, account_id: int, deliveries: list[dict[str, object]] | None) -> str:
    spec = JobSpec(verb="imagine", mode="fast", deliveries=deliveries)  # type: ignore[arg-type]
    (row,) = jobs_repo.new_jobs(account_id, [spec], T0)
    with db.session(write=True) as session:
        jobs_repo.insert_jobs(session, [row])
    return row.id


def run_to_the_end(db: Database, job_id: str) -> None:
    with db.session(write=True) as session:
        jobs_repo.start_jobs(session, [(job_id, "fast")], T0)
        jobs_repo.mark_progress(session, job_id, 40, T0, "previews/x.png")
        jobs_repo.complete_jobs(session, [Completion(job_id, 1.0, 1.0)], T0)


def statuses(db: Database, job_id: str) -> list[tuple[str, str]]:
    with db.session() as session:
        return [(e.address, e.status) for e in outbox.entries_of(session, job_id)]


def test_a_job_without_targets_writes_nothing_and_costs_no_statement(db: Database) -> None:
    account_id = make_account(db)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    job_id = queue(db, account_id, None)
    run_to_the_end(db, job_id)
    assert not any("outbox" in sql for sql in statements)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEntry)) == 0


def test_every_state_change_writes_its_events_at_the_targets_level(db: Database) -> None:
    account_id = make_account(db)
    targets = outbox.webhook_targets([HOOK, CHANNEL_HOOK, HOOK], "standard")
    assert targets is not None and len(targets) == 2  # each URL once
    job_id = queue(db, account_id, targets)
    run_to_the_end(db, job_id)
    assert statuses(db, job_id) == [
        (HOOK, "created"),
        (CHANNEL_HOOK, "created"),
        (HOOK, "completed"),
        (CHANNEL_HOOK, "completed"),
    ]
    every = queue(db, account_id, outbox.webhook_targets([HOOK], "all"))
    with db.session(write=True) as session:
        jobs_repo.start_jobs(session, [(every, "fast")], T0)
        jobs_repo.requeue(session, every, T0)  # a restart: "created" again
        jobs_repo.start_jobs(session, [(every, "fast")], T0)
        jobs_repo.mark_progress(session, every, 40, T0, "previews/x.png")
        jobs_repo.mark_failed(session, every, "Job cancelled by user", T0)
        # A transition that does not apply (already failed) writes nothing.
        assert not jobs_repo.mark_progress(session, every, 50, T0)
    assert [s for _, s in statuses(db, every)] == [
        "created",
        "started",
        "created",
        "started",
        "progress",
        "failed",
    ]
    with db.session() as session:
        entries = outbox.entries_of(session, every)
    assert entries[4].progress == 40 and entries[4].preview_path == "previews/x.png"
    assert entries[5].error == "Job cancelled by user"
    assert len({e.event_id for e in entries}) == len(entries)
    assert all(e.state == DeliveryState.PENDING and e.attempts == 0 for e in entries)


def test_only_the_first_pending_entry_of_a_lane_is_due(db: Database) -> None:
    account_id = make_account(db)
    first = queue(db, account_id, outbox.webhook_targets([HOOK, CHANNEL_HOOK], "all"))
    second = queue(db, account_id, outbox.webhook_targets([HOOK], "minimal"))
    run_to_the_end(db, first)
    run_to_the_end(db, second)
    with db.session() as session:
        due = outbox.due(session, T0, limit=10)
    assert sorted((e.job_id, e.address, e.status) for e in due) == sorted(
        [(first, HOOK, "created"), (first, CHANNEL_HOOK, "created"), (second, HOOK, "completed")]
    )
    head = next(e for e in due if e.job_id == first and e.address == HOOK)
    with db.session(write=True) as session:
        assert outbox.position(session, head) == 1
        outbox.mark_failed(session, head.id, T0, "HTTP 500", T0 + timedelta(seconds=5))
        # Until its retry time the lane waits: its later entries stay behind it.
        other = next(e for e in due if e.lane != head.lane)  # being sent: left out too
        later = outbox.due(session, T0 + timedelta(seconds=1), limit=10, busy=[other.lane])
    assert [e.lane for e in later] == [e.lane for e in due if e.lane not in (head.lane, other.lane)]
    with db.session(write=True) as session:
        outbox.mark_delivered(session, head.id, T0)
        nxt = [e for e in outbox.due(session, T0, limit=10) if e.lane == head.lane]
        assert [e.status for e in nxt] == ["started"] and outbox.position(session, nxt[0]) == 2
        outbox.mark_failed(session, nxt[0].id, T0, "refused", None)  # given up: the next goes
        (after,) = [e for e in outbox.due(session, T0, limit=10) if e.lane == head.lane]
        assert after.status == "progress"
    with db.session() as session:
        settled = {e.id: e for e in outbox.entries_of(session, first)}
    assert settled[head.id].state == DeliveryState.DELIVERED and settled[head.id].attempts == 2
    assert settled[nxt[0].id].state == DeliveryState.GIVEN_UP
    assert settled[nxt[0].id].last_error == "refused"


def test_lanes_whose_end_was_settled_are_pruned(db: Database) -> None:
    account_id = make_account(db)
    job_id = queue(db, account_id, outbox.webhook_targets([HOOK, CHANNEL_HOOK], "standard"))
    run_to_the_end(db, job_id)
    with db.session(write=True) as session:
        for entry in outbox.entries_of(session, job_id):
            if entry.address == HOOK:
                outbox.mark_delivered(session, entry.id, T0)
    with db.session(write=True) as session:
        assert outbox.prune(session, T0) == 0  # settled at T0: not before it
        assert outbox.prune(session, T0 + timedelta(seconds=1)) == 1
    assert statuses(db, job_id) == [(CHANNEL_HOOK, "created"), (CHANNEL_HOOK, "completed")]
