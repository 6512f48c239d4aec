"""Scheduling rules: who may submit, and which queued job starts next. Pure, no I/O.

Admission (at submission): relax allowed by the plan, no batches in relax, the plan's batch cap,
stealth allowed, fast time left for fast/turbo, and the queue depth (how many submissions may
wait behind the running jobs; a batch counts once, as it was submitted once).

Ordering (at dispatch): turbo, then fast, then relax. Fast and turbo are first come, first
served. Relax is a fair queue: the account with the least recent relax usage goes first
(running relax jobs count as usage in advance), ties by enqueue time. Turbo falls back to fast
where there is no turbo capacity. A fast or turbo job whose account has run out of fast time
drops to relax when the plan allows relax, and is rejected otherwise. Every account's
concurrency limits hold while picking.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from dreamloom.domain import SpeedMode
from dreamloom.jobs.accounting import out_of_fast_time_message
from dreamloom.jobs.plans import SPEED_MODES, Plan

RELAX_NOT_ALLOWED = (
    "Failed to submit: Relax queues are only available for users with a standard plan or higher"
)
NO_BATCH_IN_RELAX = "You can not submit batch jobs in relax mode"
STEALTH_NOT_ALLOWED = "Stealth mode is only available with a pro or mega plan"


class AdmissionError(ValueError):
    """A submission refused by the plan's rules; ``message`` is the user-facing text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def queue_full_message(plan: Plan) -> str:
    return (
        f"Failed to submit: your queue is full ({plan.queue_depth} submissions are already "
        "waiting). Wait for a running job to finish, then submit again."
    )


def batch_cap_message(plan: Plan, jobs: int) -> str:
    return (
        f"Failed to submit: this prompt would create {jobs} jobs and your plan allows at most "
        f"{plan.batch_cap} in one submission"
    )


def check_admission(
    plan: Plan,
    *,
    mode: str,
    jobs: int,
    running: int,
    queued_jobs: int,
    queued_submissions: int,
    fast_remaining: float,
    stealth: bool = False,
) -> None:
    """Raise AdmissionError unless a submission of ``jobs`` jobs in ``mode`` may be queued.

    ``running``/``queued_jobs``/``queued_submissions`` describe the account's active jobs now.
    """
    if mode not in SPEED_MODES:
        raise AdmissionError(f"Unknown speed mode {mode!r}")
    if jobs < 1:
        raise AdmissionError("Failed to submit: nothing to submit")
    if mode == SpeedMode.RELAX and not plan.relax_allowed:
        raise AdmissionError(RELAX_NOT_ALLOWED)
    if mode == SpeedMode.RELAX and jobs > 1:
        raise AdmissionError(NO_BATCH_IN_RELAX)
    if jobs > plan.batch_cap:
        raise AdmissionError(batch_cap_message(plan, jobs))
    if stealth and not plan.stealth_allowed:
        raise AdmissionError(STEALTH_NOT_ALLOWED)
    if mode != SpeedMode.RELAX and fast_remaining <= 0:
        raise AdmissionError(out_of_fast_time_message(plan))
    free_slots = max(0, plan.running_cap(mode) - running)
    will_wait = queued_jobs + jobs > free_slots
    # Queued submissions that free slots will start at once are not waiting: with nothing
    # running, 3 + 10 submissions fit, as they do when 3 are running and 10 wait.
    waiting = max(0, queued_submissions - free_slots)
    if will_wait and waiting + 1 > plan.queue_depth:
        raise AdmissionError(queue_full_message(plan))


# -- dispatch ordering ----------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedJob:
    id: str
    account_id: int
    mode: str  # requested
    enqueued_at: datetime
    batch_index: int = 0
    priority: int = 0


@dataclass(frozen=True)
class RunningJob:
    id: str
    account_id: int
    mode: str  # effective


@dataclass(frozen=True)
class AccountState:
    plan: Plan
    fast_remaining: float
    relax_usage: float = 0.0  # recent relax GPU seconds (the fair-queue key)


@dataclass(frozen=True)
class Start:
    job_id: str
    mode: str  # effective speed mode: what it runs as and is charged as


@dataclass(frozen=True)
class Reject:
    job_id: str
    reason: str


Decision = Start | Reject


def effective_mode(
    job: QueuedJob, account: AccountState, *, turbo_available: bool
) -> SpeedMode | Reject:
    """What a queued job would run as now, or why it can no longer run."""
    if job.mode == SpeedMode.RELAX:
        return SpeedMode.RELAX
    if account.fast_remaining <= 0:
        if account.plan.relax_allowed:
            return SpeedMode.RELAX
        return Reject(job.id, out_of_fast_time_message(account.plan))
    if job.mode == SpeedMode.TURBO and turbo_available:
        return SpeedMode.TURBO
    return SpeedMode.FAST


def can_run(plan: Plan, mode: str, running_total: int, running_relax: int) -> bool:
    if running_total >= plan.max_running:
        return False
    if mode == SpeedMode.RELAX:
        return running_relax < plan.relax_concurrency
    return running_total - running_relax < plan.concurrency


_CLASS = {SpeedMode.TURBO: 0, SpeedMode.FAST: 1, SpeedMode.RELAX: 2}


def pick_next(
    queued: Iterable[QueuedJob],
    running: Iterable[RunningJob],
    accounts: Mapping[int, AccountState],
    *,
    turbo_available: bool,
    relax_inflight_seconds: float = 60.0,
) -> Decision | None:
    """The next job to start (or to reject), or None when nothing may start now.

    Call again after acting on the decision (with the job moved to ``running``) to fill more
    free workers.
    """
    total: Counter[int] = Counter()
    relax: Counter[int] = Counter()
    for run in running:
        total[run.account_id] += 1
        if run.mode == SpeedMode.RELAX:
            relax[run.account_id] += 1

    best: tuple[tuple[object, ...], Start] | None = None
    for job in queued:
        account = accounts.get(job.account_id)
        if account is None:
            return Reject(job.id, "The account of this job no longer exists")
        mode = effective_mode(job, account, turbo_available=turbo_available)
        if isinstance(mode, Reject):
            return mode
        if not can_run(account.plan, mode, total[job.account_id], relax[job.account_id]):
            continue
        fairness = 0.0
        if mode == SpeedMode.RELAX:
            fairness = account.relax_usage + relax[job.account_id] * relax_inflight_seconds
        key = (
            _CLASS[mode],
            fairness,
            -job.priority,
            job.enqueued_at,
            job.batch_index,
            job.id,
        )
        if best is None or key < best[0]:
            best = (key, Start(job.id, mode))
    return best[1] if best else None
