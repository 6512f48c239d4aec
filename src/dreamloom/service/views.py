"""What the service hands its clients: plain, immutable views of accounts, channels and jobs.

Clients never see ORM objects: a view is complete when returned, so it can be rendered after
the database session closed, in any thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dreamloom.domain import TERMINAL_STATUSES, SpeedMode
from dreamloom.jobs.outputs import NOTES_KEY


@dataclass(frozen=True)
class AccountView:
    id: int
    name: str
    plan: str
    settings: dict[str, Any]
    timeout_until: datetime | None = field(default=None, compare=False)
    strikes: int = field(default=0, compare=False)


@dataclass(frozen=True)
class UserRow:
    name: str
    plan: str
    fast_seconds_left: float


@dataclass(frozen=True)
class ChannelView:
    id: str
    account_id: int
    discord: str  # redacted
    max_jobs: int
    max_image_jobs: int
    max_video_jobs: int
    reply_url: str | None
    error: str | None


@dataclass(frozen=True)
class ImageView:
    index: int
    path: Path
    width: int
    height: int
    seed: int | None
    id: int = 0
    visibility: str = "public"
    key: str = ""  # what links name it by (random)


@dataclass(frozen=True)
class JobView:
    id: str
    account_id: int
    verb: str
    status: str
    progress: int
    mode: str
    prompt_text: str
    seed: int | None
    error: str | None
    gpu_seconds: float
    cost_seconds: float
    images: tuple[ImageView, ...] = ()
    job_type: str = "image"
    button: str | None = None
    parent_job_id: str | None = None
    channel: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    visibility: str = "public"
    hidden: bool = False  # from its owner's own Organize view
    request: dict[str, Any] = field(default_factory=dict)
    # What the job stored about its result (settings, texts, prompts); keys starting with "_"
    # are the service's own bookkeeping, not for clients.
    response: dict[str, Any] = field(default_factory=dict)
    preview_path: str | None = None
    # (child job id, button) of the jobs made from this one, oldest first.
    children: tuple[tuple[str, str | None], ...] = ()
    # The buttons this job offers once completed.
    buttons: tuple[str, ...] = ()
    account_name: str = ""
    mode_requested: str = SpeedMode.FAST
    # From the button table (jobs.buttons), so that clients need not know it: what the job
    # makes ("grid", "single", "upscale"; None for text results), how Midjourney's message
    # names its action ("Variations (Strong)"; "" for none), which image a U1-U4 split took.
    result: str | None = None
    caption: str = ""
    split_index: int | None = None
    # (button, child job id) of the execute-once buttons already pressed (U1-U4).
    executed_once: tuple[tuple[str, str], ...] = ()

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def notes(self) -> tuple[str, ...]:
        """What the engine did instead of what was asked (Lanczos standing in for Real-ESRGAN),
        in words for the user; empty for a job made as asked."""
        return tuple(str(note) for note in self.response.get(NOTES_KEY) or ())


@dataclass(frozen=True)
class RunningJobs:
    """GET /jobs: the account's active jobs by channel, with each channel's limits."""

    channels: tuple[tuple[ChannelView, tuple[JobView, ...]], ...]


@dataclass(frozen=True)
class ImageFile:
    """A stored image a client may read: where it is and whom it belongs to."""

    id: int
    path: Path
    owner_id: int
    visibility: str
    width: int
    height: int
