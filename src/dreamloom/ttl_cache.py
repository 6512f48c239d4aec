"""One small cache for the answers a process remembers for a few seconds: a token's account,
an account's lanes, a channel's webhook URL, an account's fast-time balance.

Each entry carries its own expiry on the monotonic clock. Callers may pass ``now`` (one clock
reading for a loop over many keys, or their own clock) and a ``grace`` that still accepts an
entry that far past its expiry (the token cache answers from a stale entry while it renews it).

No lock of its own: a single read or write of the dict is atomic under the interpreter lock,
which is all the lanes and webhook URLs need; a caller that reads, then writes on what it read
(the token cache's generations, a balance's charges) holds its own lock around both. That
keeps the imagine route's fast path free of a second lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Entry(NamedTuple, Generic[V]):
    expires: float  # time.monotonic() after which the entry is no longer fresh
    value: V


class TtlCache(Generic[K, V]):
    """Values kept ``ttl`` seconds; all of them dropped at once past ``max_entries`` (the keys
    are tokens, accounts and channels: a flood of new ones must not grow memory for ever)."""

    def __init__(self, ttl: float, *, max_entries: int) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._entries: dict[K, Entry[V]] = {}

    def get(self, key: K, *, now: float | None = None, grace: float = 0.0) -> Entry[V] | None:
        """The entry of ``key`` if it expires (plus ``grace``) after ``now``; else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires + grace <= (time.monotonic() if now is None else now):
            return None
        return entry

    def put(self, key: K, value: V, *, now: float | None = None, ttl: float | None = None) -> None:
        """Remember ``value`` for ``ttl`` (default: the cache's) seconds from ``now``."""
        start = time.monotonic() if now is None else now
        if len(self._entries) >= self._max and key not in self._entries:
            self._entries.clear()
        self._entries[key] = Entry(start + (self.ttl if ttl is None else ttl), value)

    def update(self, key: K, change: Callable[[V], V]) -> None:
        """Change a remembered value in place, keeping its expiry (nothing if not cached)."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = Entry(entry.expires, change(entry.value))

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def drop_where(self, matches: Callable[[V], bool]) -> None:
        """Forget every entry whose value ``matches``."""
        for key, entry in list(self._entries.items()):
            if matches(entry.value):
                self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
