"""GET /images/{key}.png|webp and /images/previews/{jobid}.png: image files, by their owner's
rules.

A public image is served to anyone with the link. A stealth image is served to its owner's
bearer token, or to a link signed by this server (the one in the owner's job JSON); a token
of another account is refused even with a signed link. Refusals look like a missing image
(404), so that stealth images cannot be found by guessing.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool

from dreamloom.api.context import ApiContext, bearer_token, context_of
from dreamloom.api.urls import image_subject, preview_subject
from dreamloom.service import ImageFile

router = APIRouter(tags=["native images"])

_CACHE = "private, max-age=3600"
_FORMATS = {"png": "image/png", "webp": "image/webp"}


def _not_found() -> Response:
    return Response(
        content=b'{"error":"Image not found"}', status_code=404, media_type="application/json"
    )


async def _allowed(ctx: ApiContext, request: Request, image: ImageFile, subject: str) -> bool:
    if image.visibility != "stealth":
        return True
    if bearer_token(request):
        account = await ctx.optional_account(request)
        return account is not None and account.id == image.owner_id
    return ctx.signer.verify(subject, request.query_params.get("sig"))


@router.get("/images/{key}.{ext}")
async def image(key: str, ext: str, request: Request) -> Response:
    """``key``: the image's random key (``Image.key``); anything else, such as the row ids
    links held before, names no image."""
    ctx = context_of(request)
    if ext not in _FORMATS:
        return _not_found()
    found = await run_in_threadpool(ctx.service.image_file, key)
    if found is None or not await _allowed(ctx, request, found, image_subject(key)):
        return _not_found()
    if ext == "png":
        return FileResponse(found.path, media_type="image/png", headers={"Cache-Control": _CACHE})
    data = await run_in_threadpool(_webp, found.path, found.path.stat().st_mtime_ns)
    return Response(data, media_type="image/webp", headers={"Cache-Control": _CACHE})


@router.get("/images/previews/{job_id}.png")
async def preview(job_id: str, request: Request) -> Response:
    ctx = context_of(request)
    found = await run_in_threadpool(ctx.service.preview_file, job_id)
    if found is None or not await _allowed(ctx, request, found, preview_subject(job_id)):
        return _not_found()
    return FileResponse(found.path, media_type="image/png", headers={"Cache-Control": "no-store"})


@lru_cache(maxsize=256)
def _webp(path: Path, _mtime: int) -> bytes:
    """A PNG re-encoded as lossless WebP (cached: files never change once written)."""
    with Image.open(path) as opened:
        buffer = io.BytesIO()
        opened.save(buffer, format="WEBP", lossless=True)
        return buffer.getvalue()
