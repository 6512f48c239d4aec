"""Signed-in browsers of the web app, and the passwords they sign in with (as hashes).

Like API tokens, a session token is random, shown once (in its cookie) and stored as its
sha256: a copy of the database signs no one in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from dreamloom.store.accounts import hash_token, require_account
from dreamloom.store.tables import WebSession


@dataclass(frozen=True)
class OpenedSession:
    """A new session: ``token`` goes into the cookie and exists only here."""

    token: str
    csrf: str
    account_id: int
    expires: datetime


def set_password_hash(session: Session, account_id: int, password_hash: str | None) -> None:
    require_account(session, account_id).password_hash = password_hash


def open_session(
    session: Session, account_id: int, *, now: datetime, lifetime: timedelta
) -> OpenedSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + lifetime
    session.add(
        WebSession(
            token_hash=hash_token(token),
            account_id=account_id,
            csrf=csrf,
            created=now,
            expires=expires,
        )
    )
    session.flush()
    return OpenedSession(token=token, csrf=csrf, account_id=account_id, expires=expires)


def find_session(session: Session, token: str, *, now: datetime) -> WebSession | None:
    """The live session of ``token``; None when unknown or expired."""
    if not token:
        return None
    row = session.get(WebSession, hash_token(token))
    if row is None or row.expires <= now:
        return None
    return row


def close_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


def close_sessions_of(session: Session, account_id: int, *, keep: str | None = None) -> None:
    """Sign the account out everywhere (a password change), but for the session ``keep``."""
    stmt = delete(WebSession).where(WebSession.account_id == account_id)
    if keep is not None:
        stmt = stmt.where(WebSession.token_hash != hash_token(keep))
    session.execute(stmt)


def close_expired(session: Session, *, now: datetime) -> None:
    session.execute(delete(WebSession).where(WebSession.expires <= now))
