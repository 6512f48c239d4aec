"""A bound on how many user images are decoded at once.

A decoded picture takes far more memory than its file: a flat-colour 36 Mpx PNG is ~100 KB
on the wire and ~144 MB as RGBA pixels. The pixel limit bounds one decode; this bounds how many
run together, so that a burst of uploads costs at most ``slots`` decoded pictures however many
requests arrive at once (the others wait their turn rather than add their pictures).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class DecodeSlots:
    """A counting semaphore that also remembers the most decodes it saw at once (for tests
    and the bench)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("decode slots must be at least 1")
        self.slots = slots
        self._semaphore = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._active = 0
        self.peak = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._semaphore:
            with self._lock:
                self._active += 1
                self.peak = max(self.peak, self._active)
            try:
                yield
            finally:
                with self._lock:
                    self._active -= 1

    @property
    def active(self) -> int:
        return self._active
