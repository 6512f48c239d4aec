"""The HTTP face of dreamloom.

The server process owns the scheduler and the local workers (through :class:`Service`); the
REST endpoints are added on top of the same service object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dreamloom.config import Settings
from dreamloom.service import Service


def create_app(settings: Settings | None = None, *, service: Service | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = service or Service(settings)
        svc.start()
        app.state.service = svc
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(title="dreamloom", version="0.1.0", lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        svc: Service = app.state.service
        return {"ok": True, "model": settings.model, "dispatching": svc.dispatching}

    return app
