"""The store's typed failures: the database cannot take a write now, and may later.

A write that waits too long for SQLite's single write lock (another process, a backup, an
operator's ``sqlite3`` shell), or that finds the disk full, is not a bug of the request: the
HTTP layer answers 503 with ``Retry-After`` (``api.app``), and the transaction was rolled back,
so nothing was half admitted.
"""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy.exc import OperationalError

# SQLite's primary result codes (an extended code carries one in its low byte).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_FULL = 13
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class StoreUnavailable(Exception):
    """The database cannot take this write now; the same request may succeed later."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class StoreBusy(StoreUnavailable):
    def __init__(self, waited_s: float) -> None:
        super().__init__(
            f"The database is busy (its write lock was held for over {waited_s:g} s); "
            "try again in a few seconds",
            retry_after_s=5,
        )


class StoreFull(StoreUnavailable):
    def __init__(self) -> None:
        super().__init__(
            "The server's disk is full: nothing was saved; try again later", retry_after_s=60
        )


def unavailable(exc: BaseException, waited_s: float) -> StoreUnavailable | None:
    """The store error ``exc`` stands for (a driver's error, a full disk), or None.

    The errors ``exc`` was raised while handling count too: SQLite rolls a transaction back
    itself on SQLITE_FULL, and the rollback to a savepoint that follows fails with "no such
    savepoint". ``waited_s``: how long a writer waits for the lock, for the message."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        typed = _unavailable(seen, waited_s)
        if typed is not None:
            return typed
        seen = seen.__cause__ or seen.__context__
    return None


def _unavailable(exc: BaseException, waited_s: float) -> StoreUnavailable | None:
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return StoreFull()
    driver = exc.orig if isinstance(exc, OperationalError) else exc
    if not isinstance(driver, sqlite3.OperationalError):
        return None
    code = getattr(driver, "sqlite_errorcode", 0) & 0xFF
    text = str(driver)
    if code == _SQLITE_FULL or "database or disk is full" in text:
        return StoreFull()
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in text:
        return StoreBusy(waited_s)
    return None
