"""When repeated moderation hits time an account out, and when they block it.

Midjourney's support FAQ: "Repeatedly submitting blocked prompts can lead to a temporary
timeout", and bans come "on repeated or serious ToS violations". This module is the rule only
(numbers in, a time out); counting strikes and storing ``timeout_until`` belong to the store
and the service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

_DEFAULT_TIMEOUTS: Final = (timedelta(minutes=10), timedelta(hours=1), timedelta(hours=24))


def account_blocked_message(service_name: str = "dreamloom") -> str:
    """Midjourney's ban text (support FAQ), with this service's name in Midjourney's place."""
    return (
        f"You have been blocked from accessing {service_name}. "
        "This happens on repeated or serious ToS violations"
    )


def timeout_message(until: datetime) -> str:
    """What a timed-out user is told (Midjourney documents no exact text for timeouts)."""
    return (
        "You have been timed out for repeatedly submitting blocked prompts. "
        f"Try again after {until:%Y-%m-%d %H:%M %Z}".rstrip()
    )


@dataclass(frozen=True)
class StrikePolicy:
    """Escalating timeouts for repeated moderation hits.

    A strike is one blocked prompt or image. The first ``max_strikes - 1`` strikes inside
    ``window`` are forgiven (anyone can trip a filter by accident); the ``max_strikes``-th
    times the account out for ``timeouts[0]``, the next for ``timeouts[1]``, and so on, the
    last duration repeating. ``block_after`` strikes in total, however far apart, block the
    account until an operator lifts it; None never blocks automatically.
    """

    max_strikes: int = 3
    window: timedelta = timedelta(hours=24)
    timeouts: tuple[timedelta, ...] = _DEFAULT_TIMEOUTS
    block_after: int | None = 20

    def __post_init__(self) -> None:
        if self.max_strikes < 1:
            raise ValueError("max_strikes must be at least 1")
        if self.window <= timedelta(0):
            raise ValueError("window must be positive")
        if not self.timeouts or any(t <= timedelta(0) for t in self.timeouts):
            raise ValueError("timeouts must be a non-empty sequence of positive durations")
        if self.block_after is not None and self.block_after < 1:
            raise ValueError("block_after must be at least 1 (or None)")

    def recent_strikes(self, strike_times: Iterable[datetime], now: datetime) -> int:
        """How many of ``strike_times`` fall inside the window that ends at ``now``."""
        since = now - self.window
        return sum(1 for t in strike_times if since < t <= now)

    def next_timeout(self, strikes: int, now: datetime) -> datetime | None:
        """Until when an account is timed out, given its strikes inside the window (the one
        just recorded included); None when it is only a warning."""
        if strikes < self.max_strikes:
            return None
        step = min(strikes - self.max_strikes, len(self.timeouts) - 1)
        return now + self.timeouts[step]

    def is_blocked(self, total_strikes: int) -> bool:
        """Whether an account with this many strikes in all is blocked."""
        return self.block_after is not None and total_strikes >= self.block_after
