"""The web app's sign-in: passwords (argon2id) and the sessions of signed-in browsers.

API clients keep their bearer tokens (``Accounts.authenticate``); a browser signs in with the
account's name and password and then holds a session cookie, with a CSRF token bound to the
session that every state-changing request must bring back.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dreamloom.service.accounts import account_view
from dreamloom.service.errors import ServiceError
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import web_sessions

# The same words whether the name or the password is wrong: a sign-in form must not tell
# strangers which accounts exist.
WRONG_CREDENTIALS = "Wrong name or password"
PASSWORD_MIN = 8
PASSWORD_MAX = 256
PASSWORD_TOO_SHORT = f"The password must have at least {PASSWORD_MIN} characters"
PASSWORD_TOO_LONG = f"The password must have at most {PASSWORD_MAX} characters"
WRONG_CURRENT_PASSWORD = "The current password is wrong"


@dataclass(frozen=True)
class WebSessionView:
    """A signed-in browser: its account and the CSRF token its requests must carry."""

    account: AccountView
    csrf: str


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``token`` is for the cookie and is not kept anywhere else."""

    token: str
    session: WebSessionView
    expires: datetime


class SignIns:
    def __init__(self, runtime: Runtime) -> None:
        self.db = runtime.db
        self._now = runtime.now
        self._lifetime = timedelta(days=runtime.settings.web_session_days)
        self._hasher = PasswordHasher()
        # Verified against when the name is unknown, so that both failures take as long.
        self._decoy = self._hasher.hash("not a password of anyone")

    def set_password(self, name: str, password: str) -> None:
        """The operator sets (or resets) an account's password; its browsers are signed out."""
        digest = self._hasher.hash(check_password(password))
        with self.db.session(write=True) as session:
            account = accounts_repo.get_account_by_name(session, name)
            if account is None:
                raise ServiceError(f"No account named {name!r}", 404)
            web_sessions.set_password_hash(session, account.id, digest)
            web_sessions.close_sessions_of(session, account.id)

    def sign_in(self, name: str, password: str) -> SignedIn:
        with self.db.session() as session:
            account = accounts_repo.get_account_by_name(session, name)
            stored = account.password_hash if account is not None else None
            account_id = account.id if account is not None else None
        verified = _verifies(self._hasher, stored or self._decoy, password)
        if account_id is None or stored is None or not verified:
            raise ServiceError(WRONG_CREDENTIALS, 401)
        with self.db.session(write=True) as session:
            now = self._now()
            web_sessions.close_expired(session, now=now)
            opened = web_sessions.open_session(
                session, account_id, now=now, lifetime=self._lifetime
            )
            row = accounts_repo.require_account(session, account_id)
            view = WebSessionView(account=account_view(row), csrf=opened.csrf)
        return SignedIn(token=opened.token, session=view, expires=opened.expires)

    def session(self, token: str) -> WebSessionView | None:
        """The signed-in browser of a cookie's token; None when signed out or expired."""
        if not token:
            return None
        with self.db.session() as session:
            row = web_sessions.find_session(session, token, now=self._now())
            if row is None:
                return None
            account = accounts_repo.require_account(session, row.account_id)
            return WebSessionView(account=account_view(account), csrf=row.csrf)

    def sign_out(self, token: str) -> None:
        with self.db.session(write=True) as session:
            web_sessions.close_session(session, token)

    def change_password(self, token: str, current: str, new: str) -> None:
        """Change the password of the session's account; its other browsers are signed out."""
        digest = self._hasher.hash(check_password(new))
        with self.db.session(write=True) as session:
            row = web_sessions.find_session(session, token, now=self._now())
            if row is None:
                raise ServiceError("Unauthorized", 401)
            account = accounts_repo.require_account(session, row.account_id)
            if not _verifies(self._hasher, account.password_hash or self._decoy, current):
                raise ServiceError(WRONG_CURRENT_PASSWORD, 400)
            account.password_hash = digest
            web_sessions.close_sessions_of(session, account.id, keep=token)


def csrf_matches(session: WebSessionView, offered: str) -> bool:
    return bool(offered) and hmac.compare_digest(session.csrf.encode(), offered.encode())


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise ServiceError(PASSWORD_TOO_SHORT)
    if len(password) > PASSWORD_MAX:
        raise ServiceError(PASSWORD_TOO_LONG)
    return password


def _verifies(hasher: PasswordHasher, digest: str, password: str) -> bool:
    try:
        return hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False
