"""What the Create page's script calls: submit, press, cancel, read jobs, check a prompt as it
is typed, the live events of the account's jobs (SSE), and the account's images.

Every route checks the session; every one that changes something checks its CSRF header.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from dreamloom.api.context import context_of
from dreamloom.api.v3.requests import M, parse, read_body
from dreamloom.domain import Visibility
from dreamloom.events import JobEvent
from dreamloom.service import ImageFile, ServiceError
from dreamloom.service.library import BulkAction
from dreamloom.web.cards import card, item_card, preview_url
from dreamloom.web.session import api_session

router = APIRouter(prefix="/web", include_in_schema=False)

# A comment line this often keeps proxies from closing an idle stream.
HEARTBEAT_SECONDS = 15.0
IMAGE_NOT_FOUND = "Image not found"


class PromptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(max_length=8192)


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=500)
    action: BulkAction


class ButtonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    button: str = Field(max_length=64)
    prompt: str | None = Field(default=None, max_length=8192)
    mask: str | None = None


async def _json(request: Request, model: type[M]) -> M:
    return parse(model, (await read_body(request)).fields)


@router.get("/archive.zip")
async def download(request: Request, ids: Annotated[list[str], Query()]) -> Response:
    """The selected jobs' pictures (grid and singles) in one zip file."""
    session = await api_session(request)
    service = context_of(request).service

    def pack() -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, path in service.library.files_of(session.account, ids):
                archive.write(path, name)  # PNGs are compressed already
        return buffer.getvalue()

    data = await run_in_threadpool(pack)
    headers = {"Content-Disposition": 'attachment; filename="dreamloom-images.zip"'}
    return Response(data, media_type="application/zip", headers=headers)


@router.post("/imagine")
async def imagine(request: Request) -> list[dict[str, Any]]:
    session = await api_session(request, changes=True)
    body = await _json(request, PromptIn)
    service = context_of(request).service
    jobs = await run_in_threadpool(service.submit_imagine, session.account, body.prompt)
    return [card(job) for job in jobs]


@router.post("/uploads")
async def upload(request: Request) -> dict[str, Any]:
    """A picture of the user's (multipart ``file``): kept as a private single image, whose
    link goes into a prompt as an image prompt, --sref or --oref, or opens in the editor."""
    session = await api_session(request, changes=True)
    body = await read_body(request)
    data = body.files.get("file")
    if data is None:
        raise ServiceError("Choose a picture to upload")
    ctx = context_of(request)
    view = await run_in_threadpool(
        ctx.service.upload, session.account, data, str(body.fields.get("prompt", ""))
    )
    (image,) = view.images
    link = ctx.urls().image(image.key, stealth=False)
    return {**card(view), "link": link}


@router.get("/prompt-check")
async def prompt_check(request: Request, prompt: str = "") -> dict[str, Any]:
    """The prompt parser's own verdict on what is typed so far: its error, or the prompts it
    makes (permutations expanded)."""
    session = await api_session(request)
    service = context_of(request).service
    if not prompt.strip():
        return {"error": None, "prompts": []}
    try:
        prompts = await run_in_threadpool(service.parse_prompt, session.account, prompt)
    except ServiceError as err:
        return {"error": err.message, "prompts": []}
    return {"error": None, "prompts": [p.normalized() for p in prompts]}


@router.get("/jobs/{job_id}")
async def job(job_id: str, request: Request) -> dict[str, Any]:
    session = await api_session(request)
    service = context_of(request).service

    def read() -> dict[str, Any]:
        view = service.get_job(job_id, session.account)
        (item,) = service.with_likes(session.account, [view])
        return item_card(item)

    return await run_in_threadpool(read)


@router.post("/jobs/bulk")
async def bulk(request: Request) -> dict[str, Any]:
    """One action on the selected jobs: like, hide, publish, delete (and their undoings)."""
    session = await api_session(request, changes=True)
    body = await _json(request, BulkIn)
    service = context_of(request).service
    count = await run_in_threadpool(service.apply_to_jobs, session.account, body.ids, body.action)
    return {"changed": count, "action": body.action}


@router.post("/jobs/{job_id}/button")
async def press(job_id: str, request: Request) -> dict[str, Any]:
    session = await api_session(request, changes=True)
    body = await _json(request, ButtonIn)
    service = context_of(request).service
    view, _new = await run_in_threadpool(
        lambda: service.press_button(
            session.account, job_id, body.button, prompt=body.prompt, mask=body.mask
        )
    )
    return card(view)


@router.post("/jobs/{job_id}/cancel")
async def cancel(job_id: str, request: Request) -> dict[str, Any]:
    session = await api_session(request, changes=True)
    service = context_of(request).service
    view = await run_in_threadpool(lambda: service.cancel(session.account, job_id, queued_too=True))
    return card(view)


@router.get("/events")
async def events(request: Request) -> StreamingResponse:
    """Server-sent events of the account's jobs: status, progress and preview of each."""
    session = await api_session(request)
    hub = context_of(request).hub
    queue = hub.subscribe_account(session.account.id)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": heartbeat\n\n"
                    continue
                yield f"data: {json.dumps(_event(event))}\n\n"
        finally:
            hub.unsubscribe_account(session.account.id, queue)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


def _event(event: JobEvent) -> dict[str, Any]:
    return {
        "job": event.job_id,
        "status": event.status,
        "progress": event.progress,
        "error": event.error,
        "terminal": event.terminal,
        "preview": preview_url(event.job_id, event.seq) if event.preview_path else None,
    }


def _visible(image: ImageFile | None, account_id: int) -> bool:
    """An account sees its own images and the public ones of others."""
    return image is not None and (
        image.owner_id == account_id or image.visibility == Visibility.PUBLIC
    )


def _not_found() -> Response:
    return Response(json.dumps({"error": IMAGE_NOT_FOUND}), 404, media_type="application/json")


@router.get("/images/{key}.png")
async def image(key: str, request: Request) -> Response:
    session = await api_session(request)
    found = await run_in_threadpool(context_of(request).service.image_file, key)
    if found is None or not _visible(found, session.account.id):
        return _not_found()
    return FileResponse(found.path, media_type="image/png", headers={"Cache-Control": "private"})


@router.get("/previews/{job_id}.png")
async def preview(job_id: str, request: Request) -> Response:
    session = await api_session(request)
    found = await run_in_threadpool(context_of(request).service.preview_file, job_id)
    if found is None or found.owner_id != session.account.id:
        return _not_found()
    return FileResponse(found.path, media_type="image/png", headers={"Cache-Control": "no-store"})
