"""The HTTP face of dreamloom.

The server process owns the scheduler and the local workers (through :class:`Service`), or, as
one of several API processes (``dreamloom serve --processes N``), hears their events; the
REST endpoints (``api.v3``, compatible with useapi.net's Midjourney API v3, and ``api.native``)
are thin layers over the same service object. Errors are JSON ``{"error": ...}`` with the
status the service chose, as the reference documents them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dreamloom import web
from dreamloom.api import server
from dreamloom.api.context import ApiContext
from dreamloom.api.events_hub import EventHub
from dreamloom.api.limits import BodyLimitMiddleware
from dreamloom.api.native import images as native_images
from dreamloom.api.native import library as native_library
from dreamloom.api.native import personalize as native_personalize
from dreamloom.api.native import settings as native_settings
from dreamloom.api.native import tuners as native_tuners
from dreamloom.api.native import users as native_users
from dreamloom.api.urls import signer_for
from dreamloom.api.v3 import accounts as v3_accounts
from dreamloom.api.v3 import commands as v3_commands
from dreamloom.api.v3 import jobs as v3_jobs
from dreamloom.api.v3.webhooks import webhook_renderer
from dreamloom.config import Settings
from dreamloom.service import Service, ServiceError
from dreamloom.service.errors import STORE_FAILURES, unavailable


def create_app(
    settings: Settings | None = None, *, service: Service | None = None, settle_heap: bool = False
) -> FastAPI:
    """``settle_heap``: a server process (``dreamloom serve``), not a test or an embedding,
    freezes what it holds once started (``server.settle_heap``)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        signer = signer_for(service.settings if service is not None else settings)
        # Webhooks are sent by the service of the process that dispatches, with the body
        # this API renders (the service does not import the API).
        svc = service or Service(settings, renderer=webhook_renderer(settings, signer))
        svc.start()
        hub = EventHub(svc.events)
        ctx = ApiContext(svc, hub, signer)
        app.state.service = svc
        app.state.ctx = ctx
        hub.start(asyncio.get_running_loop())
        if settle_heap:
            server.settle_heap()
        try:
            yield
        finally:
            hub.stop()
            svc.close()

    app = FastAPI(title="dreamloom", version="0.1.0", lifespan=lifespan)
    # Outside every route: a body over the limit is refused before it is read or the token
    # is looked at.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        if web.is_page(request):
            return web.error_page(request, exc)
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database's lock held too long, a full disk: 503, try again later (the write
        # was rolled back). Anything else of these kinds is still a 500.
        typed = unavailable(exc, app.state.service.settings.database_busy_timeout_s)
        if typed is None:
            raise exc
        return JSONResponse(
            {"error": typed.message},
            status_code=503,
            headers={"Retry-After": str(typed.retry_after_s)},
        )

    for kind in STORE_FAILURES:
        app.add_exception_handler(kind, store_unavailable)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "path"))
        message = str(first.get("msg", "Invalid request"))
        return JSONResponse({"error": f"{where}: {message}" if where else message}, 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        svc: Service = app.state.service
        return {
            "ok": True,
            "model": svc.settings.model,
            # The versions served and their models (the models file, engine.catalog).
            "versions": {entry.version: entry.ref for entry in svc.runtime.catalog.entries},
            "dispatching": svc.dispatching,
            # Whether job events reach this process (always, unless the scheduler is down).
            "events": svc.hears_events,
            "process": os.getpid(),
        }

    app.include_router(v3_jobs.router)
    app.include_router(v3_commands.router)
    app.include_router(v3_accounts.router)
    app.include_router(native_users.router)
    app.include_router(native_images.router)
    app.include_router(native_library.router)
    app.include_router(native_settings.router)
    app.include_router(native_personalize.router)
    app.include_router(native_tuners.router)
    web.mount(app)
    return app


def create_served_app() -> FastAPI:
    """The app of one of ``dreamloom serve``'s API processes (uvicorn's factory)."""
    return create_app(settle_heap=True)
