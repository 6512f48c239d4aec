"""The data directory is this user's only: the folder 0700, the database and its files 0600."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from dreamloom.config import Settings
from dreamloom.store import accounts
from dreamloom.store.db import Database, upgrade


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _use(settings: Settings) -> Database:
    settings.ensure_dirs()
    db = Database(settings.resolved_database_url())
    upgrade(db)
    with db.session(write=True) as session:  # takes the write lock: its file exists
        accounts.create_account(session, "someone", "basic")
    return db


def test_a_new_data_directory_is_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "new" / "data")
    old_mask = os.umask(0o022)  # the usual one: SQLite would make its files 0644
    try:
        db = _use(settings)
        files = [settings.data_dir / f"dreamloom.db{suffix}" for suffix in ("", "-wal", "-shm")]
        files.append(settings.data_dir / "dreamloom.db-writelock")
        assert all(path.exists() for path in files)
        assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}
        for folder in (settings.data_dir, settings.images_dir, settings.models_dir):
            assert _mode(folder) == 0o700, folder
        db.dispose()
    finally:
        os.umask(old_mask)


def test_an_existing_data_directory_is_tightened_at_start(tmp_path: Path) -> None:
    """As an earlier version left it: 0755, the database and its WAL files 0644."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    database = data / "dreamloom.db"
    keep = sqlite3.connect(database)  # holds the -wal and -shm files open
    keep.execute("PRAGMA journal_mode=WAL")
    keep.execute("CREATE TABLE t (x)")
    keep.commit()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").chmod(0o644)
    try:
        db = _use(Settings(data_dir=data))
        assert _mode(data) == 0o700
        for suffix in ("", "-wal", "-shm", "-writelock"):
            assert _mode(Path(f"{database}{suffix}")) == 0o600, suffix
        db.dispose()
    finally:
        keep.close()
