"""One scheduling pass: what it reads (the head of the queue, the accounts' states) and what it
decides (which jobs start now, in which mode, and which can no longer run).

The rules themselves are ``jobs.scheduler`` (pure); this module feeds them from the database
and applies them until the free slots are taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from dreamloom.domain import JobStatus, SpeedMode
from dreamloom.jobs import scheduler
from dreamloom.jobs.balance import FastBalanceCache, relax_usage
from dreamloom.jobs.plans import PlanBook
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import jobs_repo

# How many queued jobs, oldest first, one scheduling pass looks at. The head of the queue is
# enough to choose from: loading a backlog of thousands on every wake-up would cost more than
# the jobs (relax fairness then works among the oldest SCAN_LIMIT waiting jobs).
SCAN_LIMIT = 128


@dataclass(frozen=True)
class Pass:
    """The queue's head and its accounts' states, read in one session."""

    queued: list[jobs_repo.QueueEntry]
    states: dict[int, scheduler.AccountState]


@dataclass(frozen=True)
class Picks:
    """What a pass decided: jobs to start (id, mode), jobs to fail (id, reason), and whether
    anything startable is left waiting."""

    starts: list[tuple[str, str]]
    rejects: list[tuple[str, str]]
    waiting: bool


def read_pass(session: Session, plans: PlanBook, balances: FastBalanceCache, now: datetime) -> Pass:
    queued = jobs_repo.queue_entries(session, (JobStatus.CREATED,), limit=SCAN_LIMIT)
    if not queued:
        return Pass([], {})
    return Pass(queued, account_states(session, queued, plans, balances, now))


def account_states(
    session: Session,
    queued: Sequence[jobs_repo.QueueEntry],
    plans: PlanBook,
    balances: FastBalanceCache,
    now: datetime,
) -> dict[int, scheduler.AccountState]:
    """The plan, fast time and recent relax use of each account with waiting jobs: a few
    queries for all of them, run after every finished job."""
    ids = sorted({e.account_id for e in queued})
    accounts = {account.id: account for account in accounts_repo.accounts_by_ids(session, ids)}
    # Fast time only gates fast and turbo jobs; relax fairness only orders relax jobs, which
    # includes fast jobs of accounts out of fast time (they fall back to relax).
    needs_fast = {e.account_id for e in queued if e.mode_requested != SpeedMode.RELAX}
    fast = balances.remaining(session, [a for i, a in accounts.items() if i in needs_fast], now)
    may_relax = {
        e.account_id
        for e in queued
        if e.mode_requested == SpeedMode.RELAX or fast.get(e.account_id, 0.0) <= 0
    }
    usage = relax_usage(session, [a for i, a in accounts.items() if i in may_relax], plans, now)
    return {
        account_id: scheduler.AccountState(
            plan=plans.get(account.plan),
            fast_remaining=fast.get(account_id, 0.0),
            relax_usage=usage.get(account_id, 0.0),
        )
        for account_id, account in accounts.items()
    }


def pick(read: Pass, running: Sequence[scheduler.RunningJob], free: int, plans: PlanBook) -> Picks:
    """Apply the scheduler's rules until ``free`` slots are taken or nothing may start."""
    queue_view = [_queued_view(entry) for entry in read.queued]
    running_view = list(running)
    accounts = {entry.id: entry.account_id for entry in read.queued}
    starts: list[tuple[str, str]] = []
    rejects: list[tuple[str, str]] = []
    while free > 0:
        decision = scheduler.pick_next(
            queue_view,
            running_view,
            read.states,
            turbo_available=plans.turbo_available,
            relax_inflight_seconds=plans.relax_inflight_seconds,
        )
        if decision is None:
            break
        queue_view = [q for q in queue_view if q.id != decision.job_id]
        if isinstance(decision, scheduler.Reject):
            rejects.append((decision.job_id, decision.reason))
            continue
        starts.append((decision.job_id, decision.mode))
        running_view.append(
            scheduler.RunningJob(decision.job_id, accounts[decision.job_id], decision.mode)
        )
        free -= 1
    return Picks(starts, rejects, waiting=bool(queue_view))


def _queued_view(job: jobs_repo.QueueEntry) -> scheduler.QueuedJob:
    return scheduler.QueuedJob(
        id=job.id,
        account_id=job.account_id,
        mode=job.mode_requested,
        enqueued_at=job.enqueued_at,
        batch_index=job.batch_index,
        priority=job.priority,
    )
