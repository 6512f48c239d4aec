"""The database schema: SQLAlchemy 2.0 typed declarative tables.

One schema serves SQLite and PostgreSQL. Every change here needs an Alembic migration in
``store/migrations/versions``; a test fails when the two disagree.

Conventions:
- timestamps are aware UTC datetimes (:class:`UTCDateTime`);
- defaults are Python-side (``default=``), so the schema has no dialect-specific server defaults;
- constraint names follow ``NAMING_CONVENTION`` so that SQLite batch migrations can find them.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dreamloom.store.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDict = dict[str, Any]
# Longest stored image key (new keys have 22 characters).
IMAGE_KEY_MAX = 32


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), JsonDict: JSON()}


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    plan: Mapped[str] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    # /settings and /prefer state: speed mode, remix, variability, version, stylize,
    # personalization, stealth, suffix, option_sets (see store.accounts.DEFAULT_SETTINGS).
    settings: Mapped[JsonDict] = mapped_column(default=dict)
    moderation_strikes: Mapped[int] = mapped_column(default=0)
    timeout_until: Mapped[datetime | None] = mapped_column(default=None)
    # Anchor of the monthly billing cycle: fast time resets on each monthly anniversary of it.
    cycle_start: Mapped[datetime] = mapped_column(default=utcnow)
    # argon2id hash of the web app's password; None: the account cannot sign in to the web app
    # (API tokens only).
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # sha256 hex of the token: the plaintext is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, to let a user tell tokens apart in a listing.
    prefix: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(default=None)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the database its hash."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # The session's CSRF token: every form and script request carries it back.
    csrf: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(default=utcnow)


class Like(Base):
    """An account likes a job's images (its own, in Organize; another's public ones, in
    Explore)."""

    __tablename__ = "likes"
    __table_args__ = (Index("ix_likes_job_id", "job_id"),)

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class Profile(Base):
    """A personalization profile (``kind`` global or custom) or a moodboard: a set of preferred
    pictures that ``--p`` conditions a generation with (``service.personalization``)."""

    __tablename__ = "profiles"
    __table_args__ = (Index("ix_profiles_account_id", "account_id"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the profile ID of --p pID
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # domain.ProfileKind
    version: Mapped[str] = mapped_column(String(8))  # the version family: "7", "6"
    name: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)  # what a bare --p uses
    # Deleted profiles keep their rows: the codes they made still work (the guide's rule).
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class ProfilePick(Base):
    """One picture judged for a profile: picked (a ranking, or a moodboard's picture) or passed
    over beside a picked one. The image may be deleted later; the ranking still counts."""

    __tablename__ = "profile_picks"
    __table_args__ = (Index("ix_profile_picks_profile_id", "profile_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"), default=None
    )
    picked: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class PersonalCode(Base):
    """A code a profile made: the profile's preferred pictures when it was used, kept as they
    were (``PersonalCodeImage``) so that the code means the same thing forever."""

    __tablename__ = "personal_codes"
    __table_args__ = (UniqueConstraint("profile_id", "digest"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))  # of the pictures: one code per state
    created: Mapped[datetime] = mapped_column(default=utcnow)


class PersonalCodeImage(Base):
    __tablename__ = "personal_code_images"

    code: Mapped[str] = mapped_column(
        ForeignKey("personal_codes.code", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # a small PNG of a preferred picture


class Tuner(Base):
    """A Style Tuner: a prompt and a seed whose looks (two per direction) are drawn as jobs of
    their own (``TunerLook``); the codes made from it need no row (`prompt.style_codes`)."""

    __tablename__ = "tuners"
    __table_args__ = (Index("ix_tuners_account_id", "account_id"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    prompt_text: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(BigInteger)
    directions: Mapped[int] = mapped_column()
    created: Mapped[datetime] = mapped_column(default=utcnow)


class TunerLook(Base):
    __tablename__ = "tuner_looks"

    tuner_id: Mapped[str] = mapped_column(
        ForeignKey("tuners.id", ondelete="CASCADE"), primary_key=True
    )
    direction: Mapped[int] = mapped_column(primary_key=True)
    side: Mapped[int] = mapped_column(primary_key=True)  # prompt.style_codes.Side
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The dispatcher's scan: queued (or running) jobs in enqueue order.
        Index("ix_jobs_status_enqueued", "status", "enqueued_at"),
        # Per-account views: active job counts at admission (every column it reads, so
        # answered from the index alone), "my jobs" listings.
        Index(
            "ix_jobs_account_active",
            "account_id",
            "status",
            "channel",
            "job_type",
            "batch_id",
            "id",
        ),
        Index("ix_jobs_account_created", "account_id", "created"),
        # Channel capacity at admission (active jobs of one lane) and execute-once look-ups.
        Index("ix_jobs_channel_status", "channel", "status"),
        Index("ix_jobs_parent_button", "parent_job_id", "button"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    verb: Mapped[str] = mapped_column(String(32))  # imagine, button, blend, describe, seed, ...
    job_type: Mapped[str] = mapped_column(String(16), default="image")
    parent_job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None, index=True
    )
    button: Mapped[str | None] = mapped_column(String(64), default=None)
    # created -> started -> progress -> completed | failed | moderated ("created" = queued).
    status: Mapped[str] = mapped_column(String(16), default="created")
    progress: Mapped[int] = mapped_column(default=0)
    mode_requested: Mapped[str] = mapped_column(String(8))  # fast | relax | turbo
    mode_effective: Mapped[str | None] = mapped_column(String(8), default=None)
    batch_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    batch_index: Mapped[int] = mapped_column(default=0)
    prompt_text: Mapped[str] = mapped_column(Text, default="")
    prompt: Mapped[JsonDict | None] = mapped_column(default=None)  # the parsed Prompt.to_dict()
    recipe: Mapped[JsonDict | None] = mapped_column(default=None)  # engine Recipe.to_dict()
    seed: Mapped[int | None] = mapped_column(BigInteger, default=None)  # up to 4294967295
    draft: Mapped[bool] = mapped_column(Boolean, default=False)  # --draft: half cost
    # Hidden from its owner's own Organize view only (the FAQ: "not from others"). The one
    # server default of the schema: see migration 0007.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    priority: Mapped[int] = mapped_column(default=0)  # higher first within a speed class
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)  # how often a worker started it
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    started: Mapped[datetime | None] = mapped_column(default=None)
    finished: Mapped[datetime | None] = mapped_column(default=None)
    updated: Mapped[datetime] = mapped_column(default=utcnow)
    gpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # measured compute
    cost_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # fast time charged
    visibility: Mapped[str] = mapped_column(String(16), default="public")  # public | stealth
    preview_path: Mapped[str | None] = mapped_column(String(512), default=None)
    request: Mapped[JsonDict | None] = mapped_column(default=None)  # echoed by the API
    response: Mapped[JsonDict | None] = mapped_column(default=None)
    # The lane (useapi "channel") the job runs in; None for jobs of clients without lanes.
    channel: Mapped[str | None] = mapped_column(String(32), default=None)
    # Where this job's events go (``store.outbox.Target`` as JSON: kind, address, level),
    # fixed at admission; None for the common job that has none, so that its state changes
    # write no outbox rows and cost no extra statement.
    deliveries: Mapped[list[JsonDict] | None] = mapped_column(JSON, default=None)
    # A button job priced against its grid (jobs.pricing): the grid's measured seconds,
    # fixed when the button is pressed; None for every other job.
    grid_seconds: Mapped[float | None] = mapped_column(Float, default=None)


class Channel(Base):
    """A lane of an account: the useapi v3 "channel" (a Midjourney account there).

    It caps how many jobs of the account may be active in it at once and may name a webhook
    that receives every event of its jobs. No Discord token is needed; the token a client
    posts is kept only in redacted form, for display.
    """

    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # digits, like a channel id
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    discord: Mapped[str] = mapped_column(String(16), default="")  # redacted: "abc...xyz"
    max_jobs: Mapped[int] = mapped_column(default=3)
    max_image_jobs: Mapped[int] = mapped_column(default=3)
    max_video_jobs: Mapped[int] = mapped_column(default=3)
    reply_url: Mapped[str | None] = mapped_column(Text, default=None)
    # Set when moderation timed the account out; cleared by POST /accounts/reset/{channel}.
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow)


def new_image_key() -> str:
    """An image's public name: 128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("job_id", "index", name="uq_images_job_id_index"),
        Index("ix_images_key", "key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # What links name the image by (``/images/<key>.png``): random, so that images cannot be
    # listed by counting, as sequential ids would allow.
    key: Mapped[str] = mapped_column(String(IMAGE_KEY_MAX), default=new_image_key)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column()  # 0 = the 2x2 grid, 1-4 = the single images
    path: Mapped[str] = mapped_column(String(512))  # relative to Settings.images_dir
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    seed: Mapped[int | None] = mapped_column(BigInteger, default=None)
    parent_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"), default=None
    )
    moderation: Mapped[str] = mapped_column(String(16), default="ok")  # ok | flagged | blocked
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    likes: Mapped[int] = mapped_column(default=0)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class UsageLedger(Base):
    """One row per finished (or cancelled) run: what it measured and what it cost."""

    __tablename__ = "usage_ledger"
    __table_args__ = (Index("ix_usage_ledger_account_created", "account_id", "created"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None, index=True
    )
    mode: Mapped[str] = mapped_column(String(8))  # the effective speed mode
    gpu_seconds: Mapped[float] = mapped_column(Float)  # measured compute time
    charged_seconds: Mapped[float] = mapped_column(Float)  # fast time taken (0 in relax)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class TimeGrant(Base):
    """Fast time outside the monthly allowance: purchased (60 days) or bonus (30 days)."""

    __tablename__ = "time_grants"
    __table_args__ = (Index("ix_time_grants_account_expires", "account_id", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # purchased | bonus
    seconds: Mapped[float] = mapped_column(Float)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    note: Mapped[str] = mapped_column(String(200), default="")


class OutboxEntry(Base):
    """One event of a job for one target (a webhook URL; later a bot channel, a browser),
    written in the transaction that changed the job, and settled by the delivery worker."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The worker's scan: the first pending entry of each (job, target).
        Index("ix_outbox_state_job", "state", "job_id", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Unique per event and target: what a receiver drops duplicates by (at-least-once).
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # domain.DeliveryKind
    address: Mapped[str] = mapped_column(Text)  # the webhook URL
    # The job as the event saw it (the body is rendered from the job and these at sending).
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    preview_path: Mapped[str | None] = mapped_column(String(512), default=None)
    occurred: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # domain.DeliveryState
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt: Mapped[datetime] = mapped_column(default=utcnow)
    settled: Mapped[datetime | None] = mapped_column(default=None)  # delivered or given up
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
