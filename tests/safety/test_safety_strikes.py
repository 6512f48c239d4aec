"""Escalating timeouts and blocking for repeated moderation hits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dreamloom.safety import StrikePolicy, account_blocked_message, timeout_message

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_first_strikes_are_only_warnings() -> None:
    policy = StrikePolicy()
    assert policy.next_timeout(1, NOW) is None
    assert policy.next_timeout(2, NOW) is None


def test_timeouts_escalate_and_the_last_repeats() -> None:
    policy = StrikePolicy()
    assert policy.next_timeout(3, NOW) == NOW + timedelta(minutes=10)
    assert policy.next_timeout(4, NOW) == NOW + timedelta(hours=1)
    assert policy.next_timeout(5, NOW) == NOW + timedelta(hours=24)
    assert policy.next_timeout(12, NOW) == NOW + timedelta(hours=24)


def test_custom_ladder() -> None:
    policy = StrikePolicy(max_strikes=1, timeouts=(timedelta(seconds=30), timedelta(minutes=5)))
    assert policy.next_timeout(0, NOW) is None
    assert policy.next_timeout(1, NOW) == NOW + timedelta(seconds=30)
    assert policy.next_timeout(2, NOW) == NOW + timedelta(minutes=5)


def test_only_strikes_inside_the_window_count() -> None:
    policy = StrikePolicy(window=timedelta(hours=24))
    times = [
        NOW - timedelta(hours=30),  # too old
        NOW - timedelta(hours=24),  # exactly a window ago: already outside
        NOW - timedelta(hours=23),
        NOW - timedelta(minutes=1),
        NOW,
        NOW + timedelta(minutes=1),  # in the future (clock skew): not counted
    ]
    assert policy.recent_strikes(times, NOW) == 3
    assert policy.next_timeout(policy.recent_strikes(times, NOW), NOW) is not None


def test_persistent_abuse_blocks_the_account() -> None:
    policy = StrikePolicy(block_after=5)
    assert not policy.is_blocked(4)
    assert policy.is_blocked(5)
    assert policy.is_blocked(50)
    assert not StrikePolicy(block_after=None).is_blocked(10_000)


def test_messages() -> None:
    assert account_blocked_message("Midjourney") == (
        "You have been blocked from accessing Midjourney. "
        "This happens on repeated or serious ToS violations"
    )
    assert account_blocked_message().startswith("You have been blocked from accessing dreamloom.")
    assert timeout_message(NOW + timedelta(minutes=10)).endswith(
        "Try again after 2026-05-01 12:10 UTC"
    )
    assert timeout_message(datetime(2026, 5, 1, 12, 10)).endswith("2026-05-01 12:10")


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_strikes": 0},
        {"window": timedelta(0)},
        {"timeouts": ()},
        {"timeouts": (timedelta(minutes=1), timedelta(0))},
        {"block_after": 0},
    ],
)
def test_nonsense_policies_are_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        StrikePolicy(**arguments)  # type: ignore[arg-type]
