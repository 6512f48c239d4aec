"""Channels: the lanes of an account (the useapi.net v3 "accounts" family).

In the reference a channel is a Midjourney account reached through Discord; here it is a lane
of the dreamloom account: it caps how many of the account's jobs may be active in it at once
(``maxJobs``, ``maxImageJobs``) and may name a webhook for all its jobs. No Discord token is
needed; one that a client posts only names the lane (the same token finds the same lane again,
as the reference discovers the channel from the token) and is kept redacted.

An account without channels gets one the first time it submits, so that clients that never
configure channels (the CLI, the web app, a v3 client that skips POST /accounts) work as well.
That lane's limits are the plan's own (running jobs plus queue depth) as far as the reference's
ranges allow (maxJobs 1-15, 1-12 of one type), so the plan's rules and texts decide below them;
limits a client configures bind in addition. Every lane reports and enforces limits inside
those ranges (``lane_limits``).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from dreamloom.safety import FetchError, FetchPolicy
from dreamloom.safety.fetch import parse_image_url
from dreamloom.safety.outbound import refuses_target
from dreamloom.service.accounts import Accounts
from dreamloom.service.errors import MODERATION_LOCKED, ServiceError, channel_busy
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView, ChannelView
from dreamloom.store import channels as channels_repo
from dreamloom.store import jobs_repo, outbox
from dreamloom.store.jobs_repo import JobSpec
from dreamloom.store.tables import Channel
from dreamloom.ttl_cache import TtlCache

DEFAULT_MAX_JOBS = 3
# Channel webhook URLs are looked up per submission; changes made here apply at once, those
# of another process within this many seconds.
REPLY_URL_CACHE_SECONDS = 5.0
# Admission reuses an account's lanes up to this long: changes made here apply at once, those
# of another process within this many seconds (a batch then sees the lanes as they were).
LANE_CACHE_SECONDS = 5.0
REPLY_URL_MAX = 2048
_CHANNEL_DIGITS = 19


@dataclass(frozen=True)
class ChannelConfig:
    """POST /accounts: what a client may set (None: keep, or the default for a new one)."""

    discord: str | None = None
    channel: str | None = None
    max_jobs: int | None = None
    max_image_jobs: int | None = None
    max_video_jobs: int | None = None
    reply_url: str | None = None


def redact(token: str) -> str:
    """The reference's display form of a token: its first and last three characters."""
    token = token.strip()
    if len(token) <= 6:
        return "***"
    return f"{token[:3]}...{token[-3:]}"


def _digits_from(seed: str) -> str:
    value = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:8], "big")
    return str(10 ** (_CHANNEL_DIGITS - 1) + value % (9 * 10 ** (_CHANNEL_DIGITS - 1)))


def _random_digits() -> str:
    return str(random.SystemRandom().randrange(10 ** (_CHANNEL_DIGITS - 1), 10**_CHANNEL_DIGITS))


class Channels:
    """An account's lanes: the v3 "accounts" family, and the lane each submission runs in."""

    def __init__(self, runtime: Runtime, accounts: Accounts) -> None:
        self.db = runtime.db
        self.plans = runtime.plans
        self.settings = runtime.settings
        self._now = runtime.now
        self._accounts = accounts
        self._reply_urls: TtlCache[str, str | None] = TtlCache(
            REPLY_URL_CACHE_SECONDS, max_entries=10_000
        )
        # Detached rows: read them, never change them. Each entry's lifetime is its own
        # (``remember_lanes``).
        self._lanes: TtlCache[int, tuple[Channel, ...]] = TtlCache(
            LANE_CACHE_SECONDS, max_entries=100_000
        )

    # -- the accounts family -------------------------------------------------------------------

    def configure_channel(
        self, account: AccountView, config: ChannelConfig
    ) -> tuple[ChannelView, bool]:
        """Create or update a lane; returns it and whether it is new."""
        self._accounts.require_subscription(account)
        if config.reply_url is not None:
            _check_reply_url(config.reply_url, REPLY_URL_MAX)
            self.check_reply_url(config.reply_url)
        with self.db.session(write=True) as session:
            channel_id = config.channel
            if channel_id is None and config.discord:
                channel_id = _digits_from(f"{account.id}:{config.discord.strip()}")
            row: Channel | None = None
            if channel_id is not None:
                if not channel_id.isdigit() or len(channel_id) > 32:
                    raise ServiceError("channel must be a string of digits")
                row = channels_repo.get_channel(session, channel_id)
                if row is not None and row.account_id != account.id:
                    raise ServiceError(f"Channel {channel_id} belongs to another account", 409)
            else:
                # No token and no channel named: the account's first lane (made if none).
                existing = self.lanes_of(session, account.id)
                row = existing[0] if existing else None
            created = row is None
            if row is None:
                row = channels_repo.add_channel(
                    session,
                    channel_id or _random_digits(),
                    account.id,
                    DEFAULT_MAX_JOBS,
                    self._now(),
                )
            self._apply_limits(row, config)
            if config.discord:
                row.discord = redact(config.discord)
            if config.reply_url is not None:
                row.reply_url = config.reply_url or None
            row.updated = self._now()
            session.flush()
            self.forget_lanes(account.id, row.id)
            return self.view(row, account), created

    def _apply_limits(self, row: Channel, config: ChannelConfig) -> None:
        """Validate the limits a client gave (the reference's ranges, or the operator's cap)
        and apply them; limits not given stay as they are."""
        cap = self.settings.channel_max_jobs
        type_cap = _type_cap(cap)
        max_jobs = row.max_jobs
        if config.max_jobs is not None:
            if not 1 <= config.max_jobs <= cap:
                raise ServiceError(f"maxJobs must be between 1 and {cap}")
            max_jobs = config.max_jobs
        limits = {}
        for name, given, current in (
            ("maxImageJobs", config.max_image_jobs, row.max_image_jobs),
            ("maxVideoJobs", config.max_video_jobs, row.max_video_jobs),
        ):
            if given is None:
                limits[name] = min(current, max_jobs)
                continue
            if not 1 <= given <= type_cap:
                raise ServiceError(f"{name} must be between 1 and {type_cap}")
            if given > max_jobs:
                raise ServiceError(f"{name} must not be greater than maxJobs ({max_jobs})")
            limits[name] = given
        row.max_jobs = max_jobs
        row.max_image_jobs = limits["maxImageJobs"]
        row.max_video_jobs = limits["maxVideoJobs"]

    def list_channels(self, account: AccountView) -> list[ChannelView]:
        with self.db.session() as session:
            return [self.view(c, account) for c in self.lanes_of(session, account.id)]

    def get_channel(self, account: AccountView, channel_id: str) -> ChannelView:
        with self.db.session() as session:
            return self.view(self._own_channel(session, account, channel_id), account)

    def delete_channel(self, account: AccountView, channel_id: str) -> None:
        """Remove a lane; its running jobs go on (the reference), new ones cannot use it."""
        with self.db.session(write=True) as session:
            channels_repo.delete_channel(session, self._own_channel(session, account, channel_id))
        self.forget_lanes(account.id, channel_id)

    def reset_channel(self, account: AccountView, channel_id: str) -> None:
        """Clear a lane's error. A moderation timeout in force ends only when it runs out
        (or an operator lifts it): the lane shows it until then."""
        with self.db.session(write=True) as session:
            self._own_channel(session, account, channel_id).error = None
        self.forget_lanes(account.id, channel_id)

    # -- helpers for the use-cases -----------------------------------------------------------

    def command_channel(self, account: AccountView, requested: str | None) -> str:
        """The channel of a settings-type command: optional when the account has one."""
        with self.db.session(write=True) as session:
            if requested is not None:
                return self._own_channel(session, account, requested, status=400).id
            channels = self.lanes_of(session, account.id)
            if len(channels) > 1:
                raise ServiceError(
                    f"channel parameter is required when multiple channels ({len(channels)}) "
                    "are configured"
                )
            if channels:
                return channels[0].id
            return self._default_channel(session, account).id

    def pick(
        self,
        session: Session,
        account: AccountView,
        requested: str | None,
        jobs: int,
        job_type: str = "image",
    ) -> str:
        """Inside the admission transaction: the lane a submission runs in (see
        ``choose``)."""
        candidates = self.candidates(
            session, account, requested, self.lanes_of(session, account.id)
        )
        counts = lane_counts(jobs_repo.active_groups(session, [account.id]))
        return self.choose(account, candidates, counts, jobs, job_type)

    def candidates(
        self,
        session: Session,
        account: AccountView,
        requested: str | None,
        own: list[Channel],
    ) -> list[Channel]:
        """The lanes a submission may use, given the account's own lanes ``own``: the
        requested one (400 unless it is the account's), else all of them (a default lane
        is made for an account with none)."""
        if requested is not None:
            for channel in own:
                if channel.id == requested:
                    return [channel]
            return [self._own_channel(session, account, requested, status=400)]
        return own or [self._default_channel(session, account)]

    def choose(
        self,
        account: AccountView,
        candidates: list[Channel],
        counts: Counter[tuple[str, str]],
        jobs: int,
        job_type: str,
    ) -> str:
        """A requested lane must have room; otherwise a random lane with room is chosen (the
        reference's load balancing). No room anywhere: 429; every lane in error: 596.
        ``counts`` are the lanes' active jobs (``lane_counts``)."""
        usable = [c for c in candidates if self._channel_error(c, account) is None]
        if not usable:
            raise ServiceError(
                f"All configured channels ({len(candidates)}) have errors "
                f"({self._channel_error(candidates[0], account)}). Please resolve channel "
                "issues before making new requests.",
                MODERATION_LOCKED,
            )
        cap = self.settings.channel_max_jobs
        with_room = [
            c
            for c in usable
            if counts[(c.id, "*")] + jobs <= (limits := lane_limits(c, cap)).jobs
            and counts[(c.id, job_type)] + jobs <= limits.of_type(job_type)
        ]
        if not with_room:
            busiest = min(usable, key=lambda c: counts[(c.id, "*")])
            raise ServiceError(channel_busy(busiest.id, counts[(busiest.id, "image")]), 429)
        return random.choice(with_room).id

    def recent_lanes(self, account_ids: Sequence[int]) -> dict[int, list[Channel]]:
        """The lanes of those accounts read less than ``LANE_CACHE_SECONDS`` ago (detached
        rows: read them, never change them)."""
        clock = time.monotonic()
        found: dict[int, list[Channel]] = {}
        for account_id in account_ids:
            entry = self._lanes.get(account_id, now=clock)
            if entry is not None:
                found[account_id] = list(entry.value)
        return found

    def remember_lanes(self, lanes: dict[int, list[Channel]]) -> None:
        """Keep lanes just read for ``recent_lanes``; the webhook URLs among them too."""
        clock = time.monotonic()
        for account_id, own in lanes.items():
            if own:  # an account without lanes gets one made at its next submission
                # Lifetimes spread over the second half of the limit: accounts first seen
                # together (clients started together) would otherwise all be read again by
                # one batch, every time, a stall for the submissions behind it.
                lifetime = LANE_CACHE_SECONDS * (0.5 + random.random() / 2)
                self._lanes.put(account_id, tuple(own), now=clock, ttl=lifetime)
            for lane in own:
                self._reply_urls.put(lane.id, lane.reply_url, now=clock)

    def forget_lanes(self, account_id: int, channel_id: str) -> None:
        self._lanes.pop(account_id)
        self._reply_urls.pop(channel_id)

    def _channel_error(self, channel: Channel, account: AccountView) -> str | None:
        until = self._accounts.timeout_of(account)
        if until is not None:
            return f"moderation timeout until {until:%Y-%m-%dT%H:%M:%SZ}"
        return channel.error

    def lanes_by_account(
        self, session: Session, account_ids: Sequence[int]
    ) -> dict[int, list[Channel]]:
        """``lanes_of`` of several accounts in one query."""
        return channels_repo.channels_by_account(session, account_ids)

    def lanes_of(self, session: Session, account_id: int) -> list[Channel]:
        return channels_repo.channels_by_account(session, [account_id])[account_id]

    def live(self, channel_id: str | None) -> str | None:
        """``channel_id`` if that channel still exists (None when it was deleted since)."""
        if channel_id is None:
            return None
        with self.db.session() as session:
            return channel_id if channels_repo.get_channel(session, channel_id) else None

    def _default_channel(self, session: Session, account: AccountView) -> Channel:
        plan = self.plans.get(account.plan)
        # As loose as the plan (every waiting submission may be a full batch), within the
        # reference's ranges: the plan's own rules and texts decide below those.
        cap = self.settings.channel_max_jobs
        capacity = min(plan.max_running + plan.queue_depth * plan.batch_cap, cap)
        channel_id = _digits_from(f"{account.id}:default")
        existing = channels_repo.get_channel(session, channel_id)
        if existing is not None:
            return existing
        row = channels_repo.add_channel(
            session,
            channel_id,
            account.id,
            capacity,
            self._now(),
            type_jobs=min(capacity, _type_cap(cap)),
        )
        session.flush()
        return row

    def _own_channel(
        self, session: Session, account: AccountView, channel_id: str, *, status: int = 404
    ) -> Channel:
        row = channels_repo.get_channel(session, channel_id)
        if row is None or row.account_id != account.id:
            raise ServiceError(f"Channel {channel_id} is not configured", status)
        return row

    def view(self, row: Channel, account: AccountView) -> ChannelView:
        limits = lane_limits(row, self.settings.channel_max_jobs)
        return ChannelView(
            id=row.id,
            account_id=row.account_id,
            discord=row.discord,
            max_jobs=limits.jobs,
            max_image_jobs=limits.image_jobs,
            max_video_jobs=limits.video_jobs,
            reply_url=row.reply_url,
            error=self._channel_error(row, account),
        )

    def check_reply_url(self, url: str | None) -> None:
        """Refuse (400) a webhook URL this server would never call, under the rules of image
        fetches (``allow_private_urls``, ``allowed_hosts``): accepted and then silently not
        called, a client would wait for events that never come. May resolve the host."""
        if not url:
            return
        try:
            parse_image_url(url)
        except FetchError:
            raise ServiceError(f"replyUrl {url} is not a valid http(s) link") from None
        policy = FetchPolicy(
            allow_private=self.settings.allow_private_urls,
            allowed_hosts=frozenset(self.settings.allowed_hosts),
            timeout_s=min(2.0, self.settings.webhook_timeout_s),
        )
        if refuses_target(url, policy):
            raise ServiceError(
                f"replyUrl {url} points to a private, loopback or link-local address; "
                "this server does not send webhooks there"
            )

    def targeted(self, session: Session, spec: JobSpec) -> JobSpec:
        """``spec`` with its delivery targets: its own ``replyUrl`` and its lane's, as the lane
        is now (for jobs made outside admission, which reads the lanes anyway)."""
        row = channels_repo.get_channel(session, spec.channel) if spec.channel else None
        return replace(spec, deliveries=reply_targets(spec.request, row))

    def cached_reply_url(self, channel_id: str | None) -> tuple[bool, str | None]:
        """(known, URL): a channel's webhook URL if it was read moments ago (admission reads
        the lanes of every submission), without the database."""
        if channel_id is None:
            return True, None
        cached = self._reply_urls.get(channel_id)
        if cached is not None:
            return True, cached.value
        return False, None

    def channel_reply_url(self, channel_id: str | None) -> str | None:
        """A channel's webhook URL (remembered briefly: every submission asks)."""
        known, url = self.cached_reply_url(channel_id)
        if known or channel_id is None:
            return url
        now = time.monotonic()
        with self.db.session() as session:
            row = channels_repo.get_channel(session, channel_id)
            url = row.reply_url if row is not None else None
        self._reply_urls.put(channel_id, url, now=now)
        return url


def lane_counts(groups: Iterable[jobs_repo.ActiveGroup]) -> Counter[tuple[str, str]]:
    """Active jobs per (lane, job type) and per (lane, "*") from ``jobs_repo.active_groups``
    of the lanes' accounts (a lane belongs to one account)."""
    counts: Counter[tuple[str, str]] = Counter()
    for group in groups:
        if group.channel is not None:
            counts[(group.channel, group.job_type)] += group.jobs
            counts[(group.channel, "*")] += group.jobs
    return counts


def reply_targets(
    request: dict[str, Any] | None, lane: Channel | None
) -> list[dict[str, Any]] | None:
    """A job's delivery targets: the webhook URLs of the request and of its lane, resolved
    once, at submission (a lane's URL changed later applies to later jobs)."""
    request = request or {}
    urls = [request.get("replyUrl"), lane.reply_url if lane is not None else None]
    level = request.get("replyLevel")
    return outbox.webhook_targets(urls, str(level) if level is not None else None)


@dataclass(frozen=True)
class LaneLimits:
    """A lane's limits as reported and enforced: always inside the reference's ranges."""

    jobs: int
    image_jobs: int
    video_jobs: int

    def of_type(self, job_type: str) -> int:
        if job_type == "video":
            return self.video_jobs
        if job_type == "image":
            return self.image_jobs
        return self.jobs


def _type_cap(cap: int) -> int:
    # The reference allows 1-15 jobs and 1-12 of one type; an operator raising the cap
    # raises both.
    return min(12, cap) if cap <= 15 else cap


def lane_limits(channel: Channel, cap: int) -> LaneLimits:
    """A lane's stored limits brought into range (1 to ``cap`` jobs, 1 to the type cap and
    at most the lane's jobs of one type): rows stored before the cap was kept (a default
    lane once held its plan's running jobs plus its whole queue, e.g. 412) or under a higher
    cap read as the range allows."""
    jobs = max(1, min(channel.max_jobs, cap))
    type_cap = min(_type_cap(cap), jobs)
    return LaneLimits(
        jobs=jobs,
        image_jobs=max(1, min(channel.max_image_jobs, type_cap)),
        video_jobs=max(1, min(channel.max_video_jobs, type_cap)),
    )


def _check_reply_url(url: str, limit: int) -> None:
    if len(url) > limit:
        raise ServiceError(f"replyUrl must be at most {limit} characters")
    if url and not url.lower().startswith(("http://", "https://")):
        raise ServiceError("replyUrl must be an http(s) URL")
