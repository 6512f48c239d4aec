"""Database fixtures shared by the suites: every database test runs on SQLite and, when a
server is configured (DREAMLOOM_TEST_POSTGRES_URL, see scripts/start-test-postgres.sh), on
PostgreSQL too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamloom.store.db import Database, upgrade
from dreamloom.store.testing import database_url, postgres_url

DB_KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(postgres_url() is None, reason="DREAMLOOM_TEST_POSTGRES_URL unset"),
        ],
    ),
]


@pytest.fixture(params=DB_KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    upgrade(database)
    yield database
    database.dispose()
