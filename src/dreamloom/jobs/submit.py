"""Admit and queue a submission in one transaction.

The service calls ``submit_jobs`` inside ``Database.session(write=True)``, then tells the
dispatcher (``Dispatcher.submitted``). The account row is locked first (PostgreSQL; SQLite's
write transaction already serialises writers) so two concurrent submissions of one account
cannot both squeeze into the last queue place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from dreamloom.domain import JobStatus, SpeedMode
from dreamloom.jobs.balance import fast_balance_for
from dreamloom.jobs.plans import Plan, PlanBook
from dreamloom.jobs.scheduler import AdmissionError, check_admission
from dreamloom.store import accounts, jobs_repo
from dreamloom.store.jobs_repo import JobSpec
from dreamloom.store.tables import Job
from dreamloom.store.types import utcnow

__all__ = [
    "AccountLoad",
    "AdmissionError",
    "account_loads",
    "check_submission",
    "loads_of",
    "submit_jobs",
]


@dataclass
class AccountLoad:
    """An account's active jobs as admission counts them; updated in memory as a batch of
    submissions is admitted in one transaction."""

    running: int = 0
    queued_jobs: int = 0
    queued_submissions: int = 0

    def add(self, jobs: int) -> None:
        self.queued_jobs += jobs
        self.queued_submissions += 1


def account_loads(session: Session, account_ids: Sequence[int]) -> dict[int, AccountLoad]:
    """The active jobs of several accounts, in one query."""
    return loads_of(jobs_repo.active_groups(session, account_ids), account_ids)


def loads_of(
    groups: Sequence[jobs_repo.ActiveGroup], account_ids: Sequence[int]
) -> dict[int, AccountLoad]:
    """Per-account loads from ``jobs_repo.active_groups``."""
    loads = {account_id: AccountLoad() for account_id in account_ids}
    for group in groups:
        load = loads[group.account_id]
        if group.status == JobStatus.CREATED:
            load.queued_jobs += group.jobs
            load.queued_submissions += group.submissions
        else:
            load.running += group.jobs
    return loads


def submission_mode(specs: Sequence[JobSpec]) -> str:
    """The one speed mode of a submission's jobs (the one the user asked for)."""
    if not specs:
        raise AdmissionError("Failed to submit: nothing to submit")
    modes = {spec.mode for spec in specs}
    if len(modes) != 1:
        raise ValueError(f"one submission, one speed mode; got {sorted(modes)}")
    return modes.pop()


def check_submission(
    plan: Plan, specs: Sequence[JobSpec], load: AccountLoad, fast_remaining: float
) -> None:
    """The plan's rules for one submission, given the account's load; raises AdmissionError."""
    check_admission(
        plan,
        mode=submission_mode(specs),
        jobs=len(specs),
        running=load.running,
        queued_jobs=load.queued_jobs,
        queued_submissions=load.queued_submissions,
        fast_remaining=fast_remaining,
        stealth=any(spec.visibility == "stealth" for spec in specs),
    )


def submit_jobs(
    session: Session,
    account_id: int,
    specs: Sequence[JobSpec],
    book: PlanBook,
    *,
    now: datetime | None = None,
) -> list[Job]:
    """Check the plan's rules and queue the jobs; raises AdmissionError with the user's text.

    All jobs of one submission share one speed mode (the one the user asked for).
    """
    mode = submission_mode(specs)
    now = now or utcnow()
    account = accounts.require_account(session, account_id, for_update=True)
    load = account_loads(session, [account_id])[account_id]
    remaining = 0.0
    if mode != SpeedMode.RELAX:
        remaining = fast_balance_for(session, account, book, now).remaining
    check_submission(book.get(account.plan), specs, load, remaining)
    return jobs_repo.create_jobs(session, account_id, specs, now=now)
