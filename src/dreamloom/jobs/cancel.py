"""Cancelling a job in the database: only running jobs can be cancelled (as in Midjourney).

Any process may call :func:`cancel_job`; the dispatcher stops the run (at once when it was
asked through ``Dispatcher.cancel``, otherwise at its next poll) and charges the compute time
the run measured.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from dreamloom.domain import RUNNING_STATUSES, JobStatus
from dreamloom.store import jobs_repo
from dreamloom.store.tables import Job
from dreamloom.store.types import utcnow

# useapi v3 semantics: a cancelled job ends "failed" with this error.
CANCELLED_ERROR = "Job cancelled by user"


class JobNotFoundError(LookupError):
    pass


class NotCancellableError(ValueError):
    """Only running jobs can be cancelled; ``message`` is the user-facing text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def cancel_job(session: Session, job_id: str, now: datetime | None = None) -> Job:
    """Mark a running job cancelled in the database (``Dispatcher.cancel`` does this and
    stops the run). A process without the dispatcher may call it directly: the dispatcher
    notices within ``poll_seconds`` and stops the run then."""
    job = jobs_repo.get_job(session, job_id)
    if job is None:
        raise JobNotFoundError(f"Job {job_id} not found")
    if job.status == JobStatus.CREATED:
        raise NotCancellableError(
            "Only running jobs can be cancelled: this job is still waiting in the queue"
        )
    if not jobs_repo.mark_failed(
        session, job_id, CANCELLED_ERROR, now or utcnow(), from_statuses=RUNNING_STATUSES
    ):
        raise NotCancellableError(
            f"Only running jobs can be cancelled: this job is already {job.status}"
        )
    session.refresh(job)
    return job
