"""The migrations build exactly the schema the tables describe, on every supported database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, Integer, MetaData, inspect, text

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
    "web_sessions",
    "likes",
    "profiles",
    "profile_picks",
    "personal_codes",
    "personal_code_images",
    "tuners",
    "tuner_looks",
}


def schema_diff(db: Database, metadata: MetaData) -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def test_upgrade_creates_every_table_at_head(db: Database) -> None:
    assert set(inspect(db.engine).get_table_names()) >= EXPECTED_TABLES
    assert current_revision(db.engine) == head_revision() == "0008"


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


def _old_account(conn: Connection) -> str:
    """Account 1, written as an older schema holds it; returns the time it was written at."""
    now = "2026-01-01 00:00:00"
    conn.execute(
        text(
            "insert into accounts (id, name, plan, created, settings,"
            " moderation_strikes, cycle_start)"
            " values (1, 'old', 'pro', :now, '{}', 0, :now)"
        ),
        {"now": now},
    )
    return now


def test_image_keys_are_backfilled_random_and_unique(db_url: str) -> None:
    """0004 gives every existing image its own random key, and keys stay unique after."""
    upgrade(db_url, "0003")
    database = Database(db_url)
    try:
        with database.engine.begin() as conn:
            now = _old_account(conn)
            conn.execute(
                text(
                    "insert into jobs (id, account_id, verb, job_type, status, progress,"
                    " mode_requested, batch_index, prompt_text, draft, priority, enqueued_at,"
                    " attempts, created, updated, gpu_seconds, cost_seconds, visibility)"
                    " values ('j1', 1, 'imagine', 'image', 'completed', 100, 'fast', 0, 'x',"
                    " false, 0, :now, 1, :now, :now, 0, 0, 'public')"
                ),
                {"now": now},
            )
            for index in range(5):
                conn.execute(
                    text(
                        'insert into images (job_id, "index", path, width, height, moderation,'
                        " visibility, likes, created) values ('j1', :i, :p, 8, 8, 'ok',"
                        " 'public', 0, :now)"
                    ),
                    {"i": index, "p": f"j1/{index}.png", "now": now},
                )
        upgrade(db_url)
        with database.engine.connect() as conn:
            keys = [row[0] for row in conn.execute(text("select key from images"))]
        assert len(keys) == 5 and len(set(keys)) == 5
        assert all(len(key) >= 22 and not key.isdigit() for key in keys)
        assert schema_diff(database, Base.metadata) == []
        with pytest.raises(Exception, match=r"(?i)unique"), database.engine.begin() as conn:
            conn.execute(text("update images set key = :k"), {"k": keys[0]})
    finally:
        database.dispose()


def test_a_buttons_grid_seconds_move_from_its_response_to_their_column(db_url: str) -> None:
    """0006 moves the grid's seconds a button job kept in its response into ``grid_seconds``
    and leaves the rest of the response as it was."""
    upgrade(db_url, "0005")
    database = Database(db_url)
    try:
        with database.engine.begin() as conn:
            now = _old_account(conn)
            for job_id, verb, response in (
                ("b1", "button", '{"_grid_seconds": 2.5, "_source_image": 7}'),
                ("b2", "button", '{"_grid_seconds": 1.0}'),
                ("i1", "imagine", '{"content": "x"}'),
            ):
                conn.execute(
                    text(
                        "insert into jobs (id, account_id, verb, job_type, status, progress,"
                        " mode_requested, batch_index, prompt_text, draft, priority,"
                        " enqueued_at, attempts, created, updated, gpu_seconds, cost_seconds,"
                        " visibility, response) values (:id, 1, :verb, 'image', 'created', 0,"
                        " 'fast', 0, 'x', false, 0, :now, 0, :now, :now, 0, 0, 'public',"
                        " :response)"
                    ),
                    {"id": job_id, "verb": verb, "response": response, "now": now},
                )
        upgrade(db_url)
        with database.engine.connect() as conn:
            rows = {
                row[0]: (row[1], row[2])
                for row in conn.execute(text("select id, grid_seconds, response from jobs"))
            }
        # SQLite hands JSON back as text, PostgreSQL as a dict.
        decoded = {
            job_id: (seconds, json.loads(response) if isinstance(response, str) else response)
            for job_id, (seconds, response) in rows.items()
        }
        assert decoded == {
            "b1": (2.5, {"_source_image": 7}),
            "b2": (1.0, None),
            "i1": (None, {"content": "x"}),
        }
        assert schema_diff(database, Base.metadata) == []
    finally:
        database.dispose()
