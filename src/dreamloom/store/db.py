"""Engines, sessions and schema migrations.

``create_engine_for`` knows the SQLite settings a multi-threaded server needs; ``Database`` hands
out short transactional sessions; ``upgrade`` runs the Alembic migrations shipped inside the
package, so deploying needs no alembic.ini and no particular working directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# How long a SQLite writer waits for another writer's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE (see below).
_WRITE_OPTION = "dreamloom_write"


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the per-dialect settings this project relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    connect_args = dict(kwargs.pop("connect_args", {}))
    # The dispatcher thread and the request threads share the pool.
    connect_args.setdefault("check_same_thread", False)
    if parsed.database in (None, "", ":memory:"):
        # One connection, or every checkout would see a different empty database.
        kwargs.setdefault("poolclass", StaticPool)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
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
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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


class SQLiteWriteLock:
    """One SQLite writer at a time, handed over at once: between this process's threads by a
    lock, and between processes by ``flock`` on a file beside the database (a waiter wakes
    when the holder lets go). Left to SQLite, each waiter would sleep in its busy handler, up
    to 100 ms a nap, and poll. Re-entrant, like the write sessions that nest."""

    def __init__(self, database: str | None) -> None:
        self._threads = threading.RLock()
        self._path = f"{database}-writelock" if database not in (None, "", ":memory:") else None
        self._fd: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._depth == 0 and self._path is not None:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None and self._depth == 0:
                os.close(self._fd)
                self._fd = None


class Database:
    """An engine plus a session factory. Thread-safe; share one per process."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine if engine is not None else create_engine_for(url)
        # SQLite has one writer at a time: writers queue for it here (see SQLiteWriteLock).
        self._write_lock: SQLiteWriteLock | contextlib.AbstractContextManager[None] = (
            SQLiteWriteLock(self.engine.url.database)
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
        """
        if not write:
            with self._session() as session:
                yield session
            return
        with self._write_lock, self._session() as session:
            session.connection(execution_options={_WRITE_OPTION: True})
            yield session

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
