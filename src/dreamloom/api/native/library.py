"""The library over the native API (bearer tokens): Organize's listing with its filters, the
public Explore feed, one action on several jobs (like, hide, publish, delete...), and uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from dreamloom.api.context import context_of
from dreamloom.api.urls import Urls
from dreamloom.api.v3.requests import parse, read_body
from dreamloom.domain import Visibility
from dreamloom.service import ServiceError
from dreamloom.service.library import (
    PAGE_MAX,
    ArchiveQuery,
    Aspect,
    BulkAction,
    ExploreSort,
    LibraryItem,
    LibraryPage,
)

router = APIRouter(prefix="/native", tags=["native library"])


class Bulk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=500)
    action: BulkAction


def _item(urls: Urls, item: LibraryItem) -> dict[str, Any]:
    job = item.job
    stealth = job.visibility == Visibility.STEALTH
    return {
        "jobid": job.id,
        "owner": job.account_name,
        "prompt": job.prompt_text,
        "seed": job.seed,
        "created": job.created.isoformat() if job.created else None,
        "visibility": job.visibility,
        "hidden": job.hidden,
        "likes": item.likes,
        "liked": item.liked,
        "images": [
            {
                "index": image.index,
                "url": urls.image(image.key, stealth=stealth),
                "width": image.width,
                "height": image.height,
            }
            for image in sorted(job.images, key=lambda i: i.index)
        ],
    }


def _page(urls: Urls, page: LibraryPage) -> dict[str, Any]:
    return {
        "jobs": [_item(urls, item) for item in page.items],
        "next_before": page.next_before.isoformat() if page.next_before else None,
        "next_offset": page.next_offset,
    }


@router.get("/archive")
async def archive(
    request: Request,
    q: str = "",
    liked: bool = False,
    hidden: bool = False,
    upscaled: bool = False,
    aspect: Aspect | None = None,
    version: str | None = None,
    visibility: Visibility | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 30,
) -> dict[str, Any]:
    """The account's finished images, newest first, filtered; ``next_before`` pages on."""
    ctx = context_of(request)
    query = ArchiveQuery(
        text=q,
        liked=liked,
        hidden=hidden,
        upscaled=upscaled,
        aspect=aspect,
        version=version,
        visibility=visibility,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
    page = await ctx.call(request, lambda account: ctx.service.archive(account, query))
    return _page(ctx.urls(), page)


@router.get("/explore")
async def explore(
    request: Request,
    sort: ExploreSort = ExploreSort.NEWEST,
    before: datetime | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 30,
) -> dict[str, Any]:
    """Everyone's public images: newest, most liked, or those this account liked."""
    ctx = context_of(request)
    page = await ctx.call(
        request,
        lambda account: ctx.service.explore(
            account, sort, before=before, offset=offset, limit=limit
        ),
    )
    return _page(ctx.urls(), page)


@router.post("/jobs/bulk")
async def bulk(request: Request) -> dict[str, Any]:
    """One action on several jobs, all or none."""
    ctx = context_of(request)
    body = parse(Bulk, (await read_body(request)).fields)
    count = await ctx.call(
        request, lambda account: ctx.service.apply_to_jobs(account, body.ids, body.action)
    )
    return {"changed": count, "action": body.action}


@router.post("/uploads", status_code=201)
async def upload(request: Request) -> dict[str, Any]:
    """A picture of the account's (multipart ``imageBlob``, optional ``prompt``), kept as a
    private single image: ``url`` can go into prompts (image prompt, --sref, --cref, --oref),
    and the job's buttons (Vary (Region), Upscale, Zoom...) work on it."""
    ctx = context_of(request)
    body = await read_body(request)
    data = body.files.get("imageBlob")
    if data is None:
        raise ServiceError("imageBlob is required")
    prompt = str(body.fields.get("prompt", ""))
    view = await ctx.call(request, lambda account: ctx.service.upload(account, data, prompt))
    (image,) = view.images
    return {
        "jobid": view.id,
        "url": ctx.urls().image(image.key, stealth=False),
        "width": image.width,
        "height": image.height,
        "buttons": list(view.buttons),
    }
