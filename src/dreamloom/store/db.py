"""Engines, sessions and schema migrations.

``create_engine_for`` knows the SQLite settings a multi-threaded server needs; ``Database`` hands
out short transactional sessions; ``upgrade`` runs the Alembic migrations shipped inside the
package, so deploying needs no alembic.ini and no particular working directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from dreamloom.store.errors import unavailable
from dreamloom.store.write_lock import DEFAULT_TIMEOUT_S, PRIVATE_FILE_MODE, SQLiteWriteLock

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_SQLITE_FILES = ("", "-wal", "-shm", "-journal", "-writelock")

# Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE (see below).
_WRITE_OPTION = "dreamloom_write"


def create_engine_for(
    url: str, *, busy_timeout_s: float = DEFAULT_TIMEOUT_S, **kwargs: Any
) -> Engine:
    """An engine for ``url`` with the per-dialect settings this project relies on.

    ``busy_timeout_s``: how long a SQLite writer waits for a lock another program holds
    (``dreamloom``'s own writers queue in ``SQLiteWriteLock`` first) before "database is
    locked", which ``Database.session`` raises as ``StoreBusy``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    if parsed.database not in (None, "", ":memory:"):
        make_private(parsed.database)
    connect_args = dict(kwargs.pop("connect_args", {}))
    # The dispatcher thread and the request threads share the pool.
    connect_args.setdefault("check_same_thread", False)
    if parsed.database in (None, "", ":memory:"):
        # One connection, or every checkout would see a different empty database.
        kwargs.setdefault("poolclass", StaticPool)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _configure_sqlite(engine, round(busy_timeout_s * 1000))
    return engine


def make_private(database: str) -> None:
    """Make a SQLite database and its companion files readable by this user only (0600).

    SQLite creates a database file 0644 and gives its -wal and -shm files the database
    file's mode, so the file is created here first; files made before this rule are
    tightened."""
    with contextlib.suppress(OSError):  # no such folder: SQLite says so when it opens it
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE))
    for suffix in _SQLITE_FILES:
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(f"{database}{suffix}", PRIVATE_FILE_MODE)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 module's legacy transaction handling skips BEGIN before SELECT, so a
        # read-then-write transaction is neither repeatable nor safely upgradable to a writer.
        # Turn it off and emit BEGIN ourselves (``_on_begin``).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # WAL: readers never block the writer and the writer never blocks readers.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much faster
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction takes the write lock up front (waiting up to busy_timeout), so two
        # writers that both read first cannot deadlock into SQLITE_BUSY halfway through.
        if conn.get_execution_options().get(_WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class Database:
    """An engine plus a session factory. Thread-safe; share one per process."""

    def __init__(
        self, url: str, *, engine: Engine | None = None, busy_timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.url = url
        self.engine = (
            engine if engine is not None else create_engine_for(url, busy_timeout_s=busy_timeout_s)
        )
        self._busy_timeout_s = busy_timeout_s
        # SQLite has one writer at a time: writers queue for it here (see SQLiteWriteLock).
        self._write_lock: SQLiteWriteLock | contextlib.AbstractContextManager[None] = (
            SQLiteWriteLock(self.engine.url.database, busy_timeout_s)
            if self.engine.dialect.name == "sqlite"
            else contextlib.nullcontext()
        )
        # Objects stay readable after commit: services return them to callers after the
        # session closed.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises.

        Pass ``write=True`` when the block reads and then writes based on what it read
        (admission checks, state transitions): on SQLite it takes the write lock first; on
        PostgreSQL use ``with_for_update()`` on the rows that matter.

        A write that cannot be made now (the lock held longer than ``busy_timeout_s``, a full
        disk) raises :class:`StoreUnavailable`, the transaction rolled back.
        """
        try:
            if not write:
                with self._session() as session:
                    yield session
                return
            with self._write_lock, self._session() as session:
                session.connection(execution_options={_WRITE_OPTION: True})
                yield session
        except (OperationalError, OSError) as exc:
            typed = unavailable(exc, self._busy_timeout_s)
            if typed is None:
                raise
            raise typed from exc

    @contextmanager
    def _session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def after_commit(self, callback: Callable[[Session], None]) -> None:
        """Call ``callback(session)`` after each commit of this database's sessions (the
        outbox wakes its worker so; ``session.info`` says what the transaction wrote)."""
        event.listen(self._sessions, "after_commit", callback)

    def dispose(self) -> None:
        self.engine.dispose()
        if isinstance(self._write_lock, SQLiteWriteLock):
            self._write_lock.close()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration built in code (no alembic.ini on disk)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # configparser interpolation treats "%" specially (URL-encoded passwords).
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(target: str | Engine | Database, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL, an engine or a Database) to ``revision``."""
    if isinstance(target, str):
        engine = create_engine_for(target)
        try:
            _upgrade_engine(engine, revision)
        finally:
            engine.dispose()
        return
    _upgrade_engine(target.engine if isinstance(target, Database) else target, revision)


def _upgrade_engine(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
