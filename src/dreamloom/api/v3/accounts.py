"""The accounts family: an account's channels (lanes). No Discord token is needed; see
``service.channels`` for what a channel is here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from dreamloom.api.context import context_of
from dreamloom.api.v3.requests import AccountRequest, parse, read_body
from dreamloom.service import AccountView, ChannelConfig, ChannelView, ServiceError

router = APIRouter(prefix="/v3/midjourney", tags=["v3 accounts"])


def channel_json(channel: ChannelView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "discord": channel.discord,
        "channel": channel.id,
        "maxJobs": channel.max_jobs,
        "maxImageJobs": channel.max_image_jobs,
        "maxVideoJobs": channel.max_video_jobs,
    }
    if channel.reply_url:
        out["replyUrl"] = channel.reply_url
    if channel.error:
        out["error"] = channel.error
    return out


@router.post("/accounts")
async def configure(request: Request) -> JSONResponse:
    ctx = context_of(request)
    body = await read_body(request)
    model = parse(AccountRequest, body.fields)
    config = ChannelConfig(
        discord=model.discord,
        channel=model.channel,
        max_jobs=model.maxJobs,
        max_image_jobs=model.maxImageJobs,
        max_video_jobs=model.maxVideoJobs,
        reply_url=model.replyUrl,
    )
    channel, created = await ctx.call(
        request, lambda account: ctx.service.configure_channel(account, config)
    )
    return JSONResponse(channel_json(channel), status_code=201 if created else 200)


@router.get("/accounts")
async def list_channels(request: Request) -> Response:
    ctx = context_of(request)
    channels = await ctx.call(request, ctx.service.list_channels)
    if not channels:
        return Response(status_code=404)  # the reference: no channels, empty body
    return JSONResponse({c.id: channel_json(c) for c in channels})


async def _one(request: Request, action: Any) -> Any:
    """Run ``action(account)``; a missing channel is 404 with an empty body (reference)."""
    ctx = context_of(request)
    try:
        return await ctx.call(request, action)
    except ServiceError as err:
        if err.status == 404:
            return Response(status_code=404)
        raise


@router.get("/accounts/{channel}")
async def get_channel(channel: str, request: Request) -> Response:
    ctx = context_of(request)

    def work(account: AccountView) -> ChannelView:
        return ctx.service.get_channel(account, channel)

    result = await _one(request, work)
    return result if isinstance(result, Response) else JSONResponse(channel_json(result))


@router.delete("/accounts/{channel}")
async def delete_channel(channel: str, request: Request) -> Response:
    ctx = context_of(request)
    result = await _one(request, lambda a: ctx.service.delete_channel(a, channel))
    return result if isinstance(result, Response) else Response(status_code=204)


@router.post("/accounts/reset/{channel}")
async def reset_channel(channel: str, request: Request) -> Response:
    ctx = context_of(request)
    result = await _one(request, lambda a: ctx.service.reset_channel(a, channel))
    return result if isinstance(result, Response) else Response(status_code=204)
