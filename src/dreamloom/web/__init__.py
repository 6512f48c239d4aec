"""The web app: server-rendered pages (Jinja2) and small JavaScript modules, over the service.

Mounted into the API's FastAPI app by ``mount``; signed-in browsers hold a session cookie
(``web.session``), every state-changing request carries the session's CSRF token, and every
page and image checks the session.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from dreamloom.service import ServiceError
from dreamloom.web import admin, feed, pages, personalize_page, settings_page, tuner_page
from dreamloom.web.session import SignInRequired, sign_in_redirect

STATIC_DIR = Path(__file__).parent / "static"


_NOT_PAGES = ("/v3/", "/native/", "/web/", "/images/", "/static/", "/healthz", "/docs", "/openapi")


def is_page(request: Request) -> bool:
    """Whether a request is for one of the web app's pages (its errors are pages too)."""
    return not request.url.path.startswith(_NOT_PAGES)


def error_page(request: Request, error: ServiceError) -> Response:
    return pages.render(request, "message.html", None, error.status, message=error.message)


def mount(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, sign_in_redirect)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(tuner_page.router)
    app.include_router(feed.router)
    app.include_router(admin.router)
    app.include_router(settings_page.router)
    app.include_router(personalize_page.router)
