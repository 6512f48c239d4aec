"""Fixtures shared by the jobs tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamloom.store.db import Database


@pytest.fixture
def env(db: Database, tmp_path: Path) -> Iterator[object]:
    """A dispatcher test bench (``test_jobs_dispatcher.Env``); its dispatchers stop after."""
    from test_jobs_dispatcher import Env

    environment = Env(db, tmp_path)
    yield environment
    for dispatcher in environment.dispatchers:
        dispatcher.stop()
