"""Admit and queue a submission in one transaction.

The service calls ``submit_jobs`` inside ``Database.session(write=True)``, then tells the
dispatcher (``Dispatcher.submitted``). The account row is locked first (PostgreSQL; SQLite's
write transaction already serialises writers) so two concurrent submissions of one account
cannot both squeeze into the last queue place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from dreamloom.jobs.balance import fast_balance_for
from dreamloom.jobs.plans import PlanBook
from dreamloom.jobs.scheduler import AdmissionError, check_admission
from dreamloom.store import accounts, jobs_repo
from dreamloom.store.jobs_repo import JobSpec
from dreamloom.store.tables import Job
from dreamloom.store.types import utcnow

__all__ = ["AdmissionError", "submit_jobs"]


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
    if not specs:
        raise AdmissionError("Failed to submit: nothing to submit")
    modes = {spec.mode for spec in specs}
    if len(modes) != 1:
        raise ValueError(f"one submission, one speed mode; got {sorted(modes)}")
    mode = modes.pop()
    now = now or utcnow()
    account = accounts.require_account(session, account_id, for_update=True)
    plan = book.get(account.plan)
    counts = jobs_repo.count_active(session, account_id)
    remaining = 0.0
    if mode != "relax":
        remaining = fast_balance_for(session, account, book, now).remaining
    check_admission(
        plan,
        mode=mode,
        jobs=len(specs),
        running=counts[jobs_repo.STARTED] + counts[jobs_repo.PROGRESS],
        queued_jobs=counts[jobs_repo.QUEUED],
        queued_submissions=jobs_repo.queued_submissions(session, account_id),
        fast_remaining=remaining,
        stealth=any(spec.visibility == "stealth" for spec in specs),
    )
    return jobs_repo.create_jobs(session, account_id, specs, now=now)
