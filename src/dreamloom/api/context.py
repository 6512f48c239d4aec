"""What every route needs, in one object on ``app.state``: the service, the event hub, link
signing, and the one way routes run service calls.

Routes are ``async``; the service is synchronous (database, files), so each request makes one
trip to the thread pool with authentication and the use-case together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from dreamloom.api.events_hub import EventHub
from dreamloom.api.urls import Signer, Urls, public_base
from dreamloom.service import AccountView, Service, ServiceError

T = TypeVar("T")

UNAUTHORIZED = "Unauthorized"


class ApiContext:
    def __init__(self, service: Service, hub: EventHub, signer: Signer) -> None:
        self.service = service
        self.hub = hub
        self.signer = signer
        self._urls = Urls(public_base(service.settings), signer)

    def urls(self) -> Urls:
        """Links on the configured public URL: never on a request's Host header, which any
        client chooses (and which would then end up in other users' links)."""
        return self._urls

    async def check_reply_url(self, url: str | None) -> None:
        """400 for a ``replyUrl`` the server would never call (off the loop: it may resolve
        the host). Requests without one cost nothing."""
        if url:
            await run_in_threadpool(self.service.check_reply_url, url)

    async def call(self, request: Request, work: Callable[[AccountView], T]) -> T:
        """Authenticate the bearer token and run ``work`` for its account, off the loop."""
        token = bearer_token(request)

        def run() -> T:
            account = self.service.authenticate(token) if token else None
            if account is None:
                raise ServiceError(UNAUTHORIZED, 401)
            return work(account)

        return await run_in_threadpool(run)

    async def submit(self, request: Request, queue: Callable[[AccountView], Future[T]]) -> T:
        """Like ``call`` for a submission whose checks need no database (``queue`` returns
        admission's future): with a token authenticated moments ago it all happens on the
        event loop, which then awaits admission without holding a pool thread, saving two
        thread hand-overs per request; otherwise through the pool as ``call`` does."""
        token = bearer_token(request)
        account = self.service.cached_account(token) if token else None
        if account is None:
            return await self.call(request, lambda found: queue(found).result())
        return await asyncio.wrap_future(queue(account))

    async def optional_account(self, request: Request) -> AccountView | None:
        token = bearer_token(request)
        if not token:
            return None
        return await run_in_threadpool(self.service.authenticate, token)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def context_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx
