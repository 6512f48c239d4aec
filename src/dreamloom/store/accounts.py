"""Accounts, API tokens and per-account settings.

All functions take an open ``Session`` (``Database.session()``) and leave committing to it, so a
caller can group several calls into one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dreamloom.store.tables import Account, ApiToken
from dreamloom.store.types import utcnow

# A token's last use is written at most this often: a write per request would serialise every
# authentication on the database's write lock for a figure nobody needs to the second.
LAST_USED_EVERY = timedelta(minutes=1)

# Every token starts with this, so leaked tokens are recognisable by secret scanners.
TOKEN_PREFIX = "dl_"

# What /settings and /prefer start with. The service validates values; the store only keeps
# them. ``None`` for version/stylize means "the model's default".
DEFAULT_SETTINGS: dict[str, Any] = {
    "mode": "fast",  # fast | relax | turbo
    "remix": False,
    "variability": "high",  # high | low: strength of V1-V4 variations
    "version": None,
    "stylize": None,
    "raw": False,
    "personalization": False,
    "stealth": False,
    "suffix": "",
    "option_sets": {},
}


class AccountExistsError(ValueError):
    pass


class AccountNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token. ``plaintext`` exists only here: the database keeps its hash."""

    id: int
    account_id: int
    plaintext: str
    prefix: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_account(
    session: Session,
    name: str,
    plan: str,
    *,
    now: datetime | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Account:
    """Create an account; its billing cycle starts now. Raises AccountExistsError."""
    now = now or utcnow()
    merged = {**DEFAULT_SETTINGS, **(settings or {})}
    account = Account(name=name, plan=plan, created=now, cycle_start=now, settings=merged)
    try:
        # A savepoint keeps the caller's transaction usable after a duplicate name.
        with session.begin_nested():
            session.add(account)
    except IntegrityError as exc:
        raise AccountExistsError(f"account {name!r} already exists") from exc
    return account


def get_account(session: Session, account_id: int) -> Account | None:
    return session.get(Account, account_id)


def get_account_by_name(session: Session, name: str) -> Account | None:
    return session.scalars(select(Account).where(Account.name == name)).one_or_none()


def require_account(session: Session, account_id: int, *, for_update: bool = False) -> Account:
    """The account, optionally row-locked (PostgreSQL) to serialise admissions per account."""
    stmt = select(Account).where(Account.id == account_id)
    if for_update:
        stmt = stmt.with_for_update()
    account = session.scalars(stmt).one_or_none()
    if account is None:
        raise AccountNotFoundError(f"account {account_id} not found")
    return account


_IN_IDS = Account.id.in_(bindparam("ids", expanding=True))
_ACCOUNTS = select(Account).where(_IN_IDS)
# Under the write lock only the plan is needed: plain rows cost less than ORM objects there.
_LOCK_PLANS = select(Account.id, Account.plan).where(_IN_IDS).order_by(Account.id).with_for_update()


def accounts_by_ids(session: Session, account_ids: Sequence[int]) -> list[Account]:
    return list(session.scalars(_ACCOUNTS, {"ids": list(account_ids)}))


def lock_plans(session: Session, account_ids: Sequence[int]) -> dict[int, str]:
    """The accounts' plans by id, their rows locked in id order (PostgreSQL) until the
    transaction ends: two admitting processes cannot deadlock, and two submissions of one
    account cannot both take its last queue place."""
    return {row.id: row.plan for row in session.execute(_LOCK_PLANS, {"ids": list(account_ids)})}


def list_accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.id)))


def set_plan(
    session: Session,
    account_id: int,
    plan: str,
    *,
    restart_cycle: bool = False,
    now: datetime | None = None,
) -> Account:
    """Change the plan; ``restart_cycle`` starts a new billing cycle now (an upgrade)."""
    account = require_account(session, account_id)
    account.plan = plan
    if restart_cycle:
        account.cycle_start = now or utcnow()
    return account


def issue_token(session: Session, account_id: int, *, now: datetime | None = None) -> IssuedToken:
    """Create an API token. Show ``plaintext`` to the user once; it cannot be recovered."""
    require_account(session, account_id)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = plaintext[: len(TOKEN_PREFIX) + 6]
    row = ApiToken(
        account_id=account_id,
        token_hash=hash_token(plaintext),
        prefix=prefix,
        created=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return IssuedToken(id=row.id, account_id=account_id, plaintext=plaintext, prefix=prefix)


def find_token(session: Session, token: str) -> ApiToken | None:
    """The valid, unrevoked token row of ``token`` (a read: its use is not noted)."""
    if not token:
        return None
    digest = hash_token(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).one_or_none()
    # The lookup is by hash (no timing leak about the plaintext); compare_digest is belt and
    # braces against a database collation that compares loosely.
    if row is None or row.revoked or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row


def last_use_stale(row: ApiToken, now: datetime) -> bool:
    return row.last_used is None or now - row.last_used >= LAST_USED_EVERY


def note_use(session: Session, token_id: int, now: datetime) -> None:
    row = session.get(ApiToken, token_id)
    if row is not None and last_use_stale(row, now):
        row.last_used = now


def list_tokens(session: Session, account_id: int) -> list[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.account_id == account_id).order_by(ApiToken.id)
    return list(session.scalars(stmt))


def revoke_token(session: Session, account_id: int, token_id: int) -> str | None:
    """Revoke one of the account's tokens; its hash, or None when it has no such token."""
    row = session.get(ApiToken, token_id)
    if row is None or row.account_id != account_id:
        return None
    row.revoked = True
    return row.token_hash


def get_settings(session: Session, account_id: int) -> dict[str, Any]:
    account = require_account(session, account_id)
    return {**DEFAULT_SETTINGS, **account.settings}


def update_settings(
    session: Session, account_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge ``changes`` into the settings (a value of None restores the default)."""
    account = require_account(session, account_id)
    merged = {**DEFAULT_SETTINGS, **account.settings}
    for key, value in changes.items():
        if value is None:
            merged[key] = DEFAULT_SETTINGS.get(key)
        else:
            merged[key] = value
    # A new dict, not an in-place edit: plain JSON columns do not track mutations.
    account.settings = merged
    return dict(merged)


# What Reset Settings keeps: option sets are named texts a prompt uses only when it names them
# (``--name``), so they cannot be the stray parameter a reset is meant to clear.
KEPT_BY_RESET: Final = ("option_sets",)


def reset_settings(session: Session, account_id: int) -> dict[str, Any]:
    """/settings -> Reset Settings: every setting and the suffix back to their defaults."""
    account = require_account(session, account_id)
    current = {**DEFAULT_SETTINGS, **account.settings}
    reset = {**DEFAULT_SETTINGS, **{key: current[key] for key in KEPT_BY_RESET}}
    account.settings = reset
    return dict(reset)


def record_strike(
    session: Session, account_id: int, *, timeout_until: datetime | None = None
) -> Account:
    """Count a moderation strike, optionally with a timeout until the given time."""
    account = require_account(session, account_id)
    account.moderation_strikes += 1
    if timeout_until is not None:
        account.timeout_until = timeout_until
    return account
