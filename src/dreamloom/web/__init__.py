"""The web app: server-rendered pages (Jinja2) and small JavaScript modules, over the service.

Mounted into the API's FastAPI app by ``mount``; signed-in browsers hold a session cookie
(``web.session``), every state-changing request carries the session's CSRF token, and every
page and image checks the session.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from dreamloom.web import feed, pages
from dreamloom.web.session import SignInRequired, sign_in_redirect

STATIC_DIR = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, sign_in_redirect)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(feed.router)
