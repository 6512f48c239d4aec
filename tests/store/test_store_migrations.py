"""The migrations build exactly the schema the tables describe, on every supported database."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect

from dreamloom.store.db import (
    Database,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from dreamloom.store.tables import Base

EXPECTED_TABLES = {
    "accounts",
    "api_tokens",
    "jobs",
    "images",
    "usage_ledger",
    "time_grants",
    "channels",
    "outbox",
}


def schema_diff(db: Database, metadata: MetaData) -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def test_upgrade_creates_every_table_at_head(db: Database) -> None:
    assert set(inspect(db.engine).get_table_names()) >= EXPECTED_TABLES
    assert current_revision(db.engine) == head_revision() == "0004"


def test_migrated_schema_matches_the_tables(db: Database) -> None:
    assert schema_diff(db, Base.metadata) == []


def test_the_comparison_does_notice_a_difference(db: Database) -> None:
    # Guard against a comparison that passes vacuously.
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["jobs"].append_column(Column("extra", Integer, nullable=True))
    diff = schema_diff(db, changed)
    assert [entry[0] for entry in diff] == ["add_column"]


def test_upgrade_is_idempotent_and_accepts_a_url(db: Database, db_url: str) -> None:
    upgrade(db_url)  # already at head: nothing to do, no error
    upgrade(db.engine)
    assert current_revision(db.engine) == head_revision()


def test_downgrade_to_base_and_back(db: Database) -> None:
    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert not EXPECTED_TABLES & set(inspect(db.engine).get_table_names())
    upgrade(db)
    assert schema_diff(db, Base.metadata) == []


def test_migrations_do_not_depend_on_the_working_directory(
    db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini, no migrations folder here
    upgrade(db_url)
    database = Database(db_url)
    try:
        assert current_revision(database.engine) == head_revision()
    finally:
        database.dispose()
