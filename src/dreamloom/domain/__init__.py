"""The vocabulary every layer shares: a job's status, verb, speed mode, type and visibility.

A leaf: it imports nothing of ours, so the prompt parser, the engine, the store and every
client can name these the same way. Each is a ``StrEnum``, so a member is the very string
stored in the database and shown by the API (``JobStatus.CREATED == "created"``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class JobStatus(StrEnum):
    """A job's life: created -> started -> progress -> completed | failed | moderated.

    "created" is also a job waiting in the queue again (re-queued after a restart or a
    worker's crash): the useapi.net reference has no separate "queued" status.
    """

    CREATED = "created"
    STARTED = "started"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"
    MODERATED = "moderated"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


RUNNING_STATUSES: Final = (JobStatus.STARTED, JobStatus.PROGRESS)
ACTIVE_STATUSES: Final = (JobStatus.CREATED, JobStatus.STARTED, JobStatus.PROGRESS)
TERMINAL_STATUSES: Final = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.MODERATED)


class Verb(StrEnum):
    """What a job was asked to do: the reference's ``verb`` of a job."""

    IMAGINE = "imagine"
    BLEND = "blend"
    BUTTON = "button"
    DESCRIBE = "describe"
    SEED = "seed"
    UPLOAD = "upload"  # a user's own picture, kept as a single image the buttons work on
    # Settings-type commands: they finish at once, as text jobs.
    SETTINGS = "settings"
    INFO = "info"
    FAST = "fast"
    RELAX = "relax"
    TURBO = "turbo"
    REMIX = "remix"
    VARIABILITY = "variability"
    # /stealth, /public, /prefer suffix and option sets, /show: native commands (not in v3).
    STEALTH = "stealth"
    PUBLIC = "public"
    PREFER = "prefer"
    SHOW = "show"


class SpeedMode(StrEnum):
    """The queue a job is asked for (and the one it ran in: turbo falls back to fast)."""

    FAST = "fast"
    RELAX = "relax"
    TURBO = "turbo"


class Variability(StrEnum):
    """/settings Variation Mode: how far V1-V4 move from the chosen image."""

    HIGH = "high"  # Strong Variation Mode
    LOW = "low"  # Subtle Variation Mode


class JobType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    TEXT = "text"  # settings commands, seed, describe: an answer in words


class Visibility(StrEnum):
    PUBLIC = "public"
    STEALTH = "stealth"


class ProfileKind(StrEnum):
    """What a personalization profile is made of (the guide: Personalization, Moodboards)."""

    GLOBAL = "global"  # one per account and version, unlocked by ranking pictures
    CUSTOM = "custom"  # more profiles of the same kind, once the global one is unlocked
    MOODBOARD = "moodboard"  # pictures chosen outright, usable at once


class ReplyLevel(StrEnum):
    """The reference's ``replyLevel``: which of a job's events a webhook receives."""

    ALL = "all"
    STANDARD = "standard"
    MINIMAL = "minimal"


class DeliveryKind(StrEnum):
    """Where an outbox entry goes (the Discord bot and web push are to come)."""

    WEBHOOK = "webhook"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"


__all__ = [
    "ACTIVE_STATUSES",
    "RUNNING_STATUSES",
    "TERMINAL_STATUSES",
    "DeliveryKind",
    "DeliveryState",
    "JobStatus",
    "JobType",
    "ProfileKind",
    "ReplyLevel",
    "SpeedMode",
    "Variability",
    "Verb",
    "Visibility",
]
