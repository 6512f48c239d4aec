"""Admission and ordering rules (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.scheduler import (
    NO_BATCH_IN_RELAX,
    RELAX_NOT_ALLOWED,
    STEALTH_NOT_ALLOWED,
    AccountState,
    AdmissionError,
    QueuedJob,
    Reject,
    RunningJob,
    Start,
    check_admission,
    pick_next,
)

PLANS = PlanBook().plans
T0 = datetime(2025, 6, 1, tzinfo=UTC)

# -- admission ------------------------------------------------------------------------------


def admit(plan: str = "standard", **kw: object) -> None:
    args: dict[str, object] = {
        "mode": "fast",
        "jobs": 1,
        "running": 0,
        "queued_jobs": 0,
        "queued_submissions": 0,
        "fast_remaining": 3600.0,
    }
    args.update(kw)
    check_admission(PLANS[plan], **args)  # type: ignore[arg-type]


def refusal(plan: str = "standard", **kw: object) -> str:
    with pytest.raises(AdmissionError) as info:
        admit(plan, **kw)
    return info.value.message


def test_relax_needs_standard_or_higher() -> None:
    assert refusal("basic", mode="relax") == RELAX_NOT_ALLOWED
    assert RELAX_NOT_ALLOWED == (
        "Failed to submit: Relax queues are only available for users with a standard plan or higher"
    )
    for plan in ("standard", "pro", "mega"):
        admit(plan, mode="relax", fast_remaining=0)  # relax needs no fast time


def test_no_batches_in_relax() -> None:
    assert refusal(mode="relax", jobs=2) == "You can not submit batch jobs in relax mode"
    assert NO_BATCH_IN_RELAX == "You can not submit batch jobs in relax mode"
    admit(mode="fast", jobs=2)


@pytest.mark.parametrize(("plan", "cap"), [("basic", 4), ("standard", 10), ("pro", 40)])
def test_batch_cap(plan: str, cap: int) -> None:
    admit(plan, jobs=cap)
    assert f"at most {cap}" in refusal(plan, jobs=cap + 1)


def test_stealth_needs_pro_or_mega() -> None:
    assert refusal("standard", stealth=True) == STEALTH_NOT_ALLOWED
    admit("pro", stealth=True)


def test_fast_and_turbo_need_fast_time_and_say_what_to_do() -> None:
    message = refusal("standard", fast_remaining=0)
    assert "run out of fast hours" in message and "/relax" in message
    assert "/relax" not in refusal("basic", mode="turbo", fast_remaining=0)
    admit(fast_remaining=0.5)


def test_queue_depth_counts_waiting_submissions() -> None:
    # 3 running, 9 submissions waiting: one more may wait, then the queue is full.
    admit(running=3, queued_jobs=9, queued_submissions=9)
    message = refusal(running=3, queued_jobs=10, queued_submissions=10)
    assert "queue is full" in message and "10" in message
    # A job that starts at once (free slot) does not need a queue place.
    admit(running=2, queued_jobs=0, queued_submissions=10)
    # A batch counts as one submission: Pro's 40 jobs fit behind 12 running ones.
    admit("pro", jobs=40, running=12, queued_jobs=5, queued_submissions=5)


def test_relax_queue_uses_the_relax_running_cap() -> None:
    # Pro runs 12 at once in fast, but only 3 in relax: the 4th relax job must wait.
    admit("pro", mode="relax", running=3, queued_jobs=0, queued_submissions=9)
    assert "queue is full" in refusal(
        "pro", mode="relax", running=3, queued_jobs=0, queued_submissions=10
    )


def test_unknown_mode_and_empty_submissions() -> None:
    assert "speed mode" in refusal(mode="warp")
    assert "nothing" in refusal(jobs=0)


# -- ordering ---------------------------------------------------------------------------------


def q(job_id: str, account: int, mode: str = "fast", t: float = 0, **kw: int) -> QueuedJob:
    return QueuedJob(job_id, account, mode, T0 + timedelta(seconds=t), **kw)


def state(plan: str = "standard", fast: float = 3600.0, usage: float = 0.0) -> AccountState:
    return AccountState(PLANS[plan], fast, usage)


def order(
    queued: Sequence[QueuedJob],
    accounts: dict[int, AccountState],
    running: Sequence[RunningJob] = (),
    *,
    slots: int = 100,
    turbo: bool = True,
) -> list[tuple[str, str]]:
    """Repeatedly pick, as the dispatcher does, until nothing more may start."""
    pending, active = list(queued), list(running)
    started: list[tuple[str, str]] = []
    while len(started) < slots:
        decision = pick_next(pending, active, accounts, turbo_available=turbo)
        if decision is None:
            break
        assert isinstance(decision, Start), decision
        job = next(j for j in pending if j.id == decision.job_id)
        pending.remove(job)
        active.append(RunningJob(job.id, job.account_id, decision.mode))
        started.append((job.id, decision.mode))
    return started


def test_turbo_then_fast_then_relax_first_come_first_served() -> None:
    queued = [
        q("relax1", 1, "relax", t=0),
        q("fast1", 2, "fast", t=1),
        q("turbo1", 3, "turbo", t=2),
        q("fast2", 4, "fast", t=3),
    ]
    accounts = {i: state() for i in (1, 2, 3, 4)}
    assert order(queued, accounts) == [
        ("turbo1", "turbo"),
        ("fast1", "fast"),
        ("fast2", "fast"),
        ("relax1", "relax"),
    ]


def test_turbo_falls_back_to_fast_without_turbo_capacity() -> None:
    queued = [q("fast1", 1, "fast", t=0), q("turbo1", 2, "turbo", t=1)]
    accounts = {1: state(), 2: state()}
    assert order(queued, accounts, turbo=False) == [("fast1", "fast"), ("turbo1", "fast")]


def test_priority_and_batch_order_within_a_class() -> None:
    queued = [
        q("b1", 1, t=5, batch_index=1),
        q("b0", 1, t=5, batch_index=0),
        q("vip", 2, t=9, priority=1),
    ]
    assert [j for j, _ in order(queued, {1: state(), 2: state()})] == ["vip", "b0", "b1"]


def test_relax_is_fair_least_recent_usage_first() -> None:
    queued = [
        q("heavy1", 1, "relax", t=0),
        q("heavy2", 1, "relax", t=1),
        q("light1", 2, "relax", t=5),
        q("new1", 3, "relax", t=9),
    ]
    accounts = {
        1: state(usage=5000),
        2: state(usage=100),
        3: state(usage=0),
    }
    assert [j for j, _ in order(queued, accounts, slots=3)] == ["new1", "light1", "heavy1"]


def test_relax_ties_go_by_enqueue_time_and_running_jobs_count_as_usage() -> None:
    queued = [
        q("a1", 1, "relax", t=0),
        q("a2", 1, "relax", t=1),
        q("a3", 1, "relax", t=2),
        q("b1", 2, "relax", t=3),
    ]
    accounts = {1: state(), 2: state()}
    # a1 first (earlier), then b1 ahead of a2: account 1 already has a job running.
    assert [j for j, _ in order(queued, accounts)] == ["a1", "b1", "a2", "a3"]


def test_per_account_concurrency_is_respected_while_picking() -> None:
    queued = [q(f"a{i}", 1, t=i) for i in range(5)] + [q("b0", 2, t=10)]
    started = order(queued, {1: state(), 2: state()})
    assert [j for j, _ in started] == ["a0", "a1", "a2", "b0"]  # a3, a4 wait: 3 running


def test_pro_runs_12_fast_but_only_3_relax() -> None:
    fast = [q(f"f{i}", 1, t=i) for i in range(14)]
    assert len(order(fast, {1: state("pro")})) == 12
    relax = [q(f"r{i}", 1, "relax", t=i) for i in range(5)]
    assert len(order(relax, {1: state("pro")})) == 3
    # Relax running jobs count towards the total too.
    running = [RunningJob(f"x{i}", 1, "relax") for i in range(3)]
    assert len(order(fast, {1: state("pro")}, running)) == 9


def test_standard_total_running_is_three_across_modes() -> None:
    running = [RunningJob("r0", 1, "relax"), RunningJob("r1", 1, "relax")]
    queued = [q("f0", 1, t=0), q("f1", 1, t=1)]
    assert [j for j, _ in order(queued, {1: state()}, running)] == ["f0"]


def test_out_of_fast_time_drops_to_relax_or_is_rejected() -> None:
    queued = [q("std", 1, "fast", t=0), q("bas", 2, "turbo", t=1)]
    accounts = {1: state("standard", fast=0), 2: state("basic", fast=0)}
    decision = pick_next(queued, [], accounts, turbo_available=True)
    assert isinstance(decision, Reject) and decision.job_id == "bas"
    assert "run out of fast hours" in decision.reason
    decision = pick_next(queued[:1], [], accounts, turbo_available=True)
    assert decision == Start("std", "relax")


def test_unknown_account_is_rejected_and_nothing_queued_gives_none() -> None:
    decision = pick_next([q("orphan", 9)], [], {}, turbo_available=True)
    assert isinstance(decision, Reject)
    assert pick_next([], [], {}, turbo_available=True) is None


def test_a_capped_account_does_not_block_others_of_a_lower_class() -> None:
    running = [RunningJob(f"x{i}", 1, "fast") for i in range(3)]
    queued = [q("a-fast", 1, "fast", t=0), q("b-relax", 2, "relax", t=1)]
    assert order(queued, {1: state(), 2: state()}, running) == [("b-relax", "relax")]
