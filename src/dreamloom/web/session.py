"""Who is signed in: the session cookie, the CSRF check, and what a signed-out browser gets.

Pages redirect a signed-out browser to the sign-in page; the scripts' JSON endpoints answer
401. A state-changing request must carry the session's CSRF token (a form field, or the
``X-CSRF-Token`` header from scripts), or it is refused with 403 and changes nothing.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dreamloom.api.context import context_of
from dreamloom.service import ServiceError
from dreamloom.service.signins import WebSessionView, csrf_matches

COOKIE = "dreamloom_session"
# The sign-in form has no session yet: its CSRF token is a random cookie it must echo
# (double submit), so another site cannot sign a browser in to an account of its choosing.
SIGNIN_COOKIE = "dreamloom_signin"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
CSRF_REFUSED = "This form has expired: reload the page and try again"


class SignInRequired(Exception):
    """A page asked for by a signed-out browser."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


async def sign_in_redirect(request: Request, exc: Exception) -> Response:
    path = exc.path if isinstance(exc, SignInRequired) else "/"
    target = "/signin" if path in ("", "/") else f"/signin?next={quote(path, safe='/')}"
    return RedirectResponse(target, status_code=303)


async def current(request: Request) -> WebSessionView | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    return await run_in_threadpool(context_of(request).service.web_session, token)


async def page_session(request: Request) -> WebSessionView:
    """The signed-in browser of a page, or a redirect to the sign-in page."""
    session = await current(request)
    if session is None:
        raise SignInRequired(request.url.path)
    return session


async def api_session(request: Request, *, changes: bool = False) -> WebSessionView:
    """The signed-in browser of a script's request; ``changes``: its CSRF header is checked."""
    session = await current(request)
    if session is None:
        raise ServiceError("Unauthorized", 401)
    if changes and not csrf_matches(session, request.headers.get(CSRF_HEADER, "")):
        raise ServiceError(CSRF_REFUSED, 403)
    return session


def require_form_csrf(session: WebSessionView, offered: str) -> None:
    if not csrf_matches(session, offered):
        raise ServiceError(CSRF_REFUSED, 403)


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure where the server is reached over HTTPS (its public URL says so)."""
    public = context_of(request).service.settings.public_url
    return public.startswith("https://") or request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, token: str, expires: datetime) -> None:
    response.set_cookie(
        COOKIE,
        token,
        expires=expires,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )


def new_signin_token() -> str:
    return secrets.token_urlsafe(24)


def signin_token_matches(request: Request, offered: str) -> bool:
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    return bool(expected) and hmac.compare_digest(expected.encode(), offered.encode())
