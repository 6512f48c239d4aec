"""The one exception the service raises to its clients, and the texts clients rely on."""

from __future__ import annotations

from typing import Final

from sqlalchemy.exc import OperationalError

from dreamloom.store.errors import StoreUnavailable, unavailable

# What a client answers "try again later" (503 with Retry-After) when ``unavailable`` names
# it: the database's write lock held too long, a full disk. Re-exported for the API, which
# does not reach into the store.
STORE_FAILURES: Final = (StoreUnavailable, OperationalError, OSError)
__all__ = ["STORE_FAILURES", "ServiceError", "StoreUnavailable", "unavailable"]

NO_SUBSCRIPTION: Final = "Account has no subscription or subscription expired"
JOB_NOT_FOUND: Final = "Job not found"
PARENT_NOT_FOUND: Final = "Parent job not found"
PARENT_EXPIRED: Final = "Parent job has expired"
# HTTP 596: the useapi.net reference's code for a channel locked by moderation.
MODERATION_LOCKED: Final = 596


def job_expired(job_id: str) -> str:
    return f"Job {job_id} has expired"


def channel_busy(channel: str, active: int) -> str:
    return f"Channel {channel} is busy executing {active} image jobs"


class ServiceError(Exception):
    """A refusal with a user-facing message and the HTTP status that fits it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
