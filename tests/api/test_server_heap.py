"""A started server's garbage collector: what it holds is frozen, and a burst of requests'
short-lived objects dies by reference counting before any collection runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from dreamloom.api.server import settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def _collections_during_bursts(bursts: int = 40, live: int = 5_000) -> list[int]:
    """Generations collected while ``live`` objects at a time (requests in flight) are made
    and dropped, ``bursts`` times."""
    started: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(note)
    try:
        for _ in range(bursts):
            in_flight = [{"job": i} for i in range(live)]
            del in_flight
    finally:
        gc.callbacks.remove(note)
    return started


def test_a_settled_heap_lets_requests_objects_die_young(restored_gc: None) -> None:
    gc.collect()
    assert _collections_during_bursts(), "Python's own thresholds collect during the bursts"
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert _collections_during_bursts() == []
