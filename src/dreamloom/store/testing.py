"""Test support: a private, migrated database per test, on SQLite or PostgreSQL.

PostgreSQL tests share one server and database (``DREAMLOOM_TEST_POSTGRES_URL``); each test
gets its own schema (fast to create and drop, unlike a database) by pointing the connection's
``search_path`` at it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "DREAMLOOM_TEST_POSTGRES_URL"


def postgres_url() -> str | None:
    """The test server's URL, or None (PostgreSQL tests are then skipped)."""
    return os.environ.get(POSTGRES_URL_ENV) or None


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh empty schema; yields a URL whose connections use it, drops it afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database_url(kind: str, tmp_dir: Path) -> Iterator[str]:
    """A URL for an empty database of ``kind`` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_dir / 'test.db'}"
        return
    base = postgres_url()
    if base is None:
        raise RuntimeError(f"{POSTGRES_URL_ENV} is not set")
    with postgres_schema(base) as url:
        yield url
