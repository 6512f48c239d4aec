"""POST jobs/imagine, button, describe, blend, seed; GET jobs, GET and DELETE jobs/{jobid}."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from dreamloom.api.context import context_of
from dreamloom.api.v3.jobs_view import iso, render_job
from dreamloom.api.v3.requests import (
    BlendRequest,
    ButtonRequest,
    DescribeRequest,
    ImagineRequest,
    SeedRequest,
    blend_inputs,
    describe_input,
    job_request,
)
from dreamloom.api.v3.respond import job_response
from dreamloom.service import AccountView, JobView, RunningJobs

router = APIRouter(prefix="/v3/midjourney", tags=["v3 jobs"])


@router.post("/jobs/imagine")
async def imagine(request: Request) -> Response:
    ctx, body, model = await job_request(request, ImagineRequest)
    echo = model.echo(body.fields, "prompt")

    def queue(account: AccountView) -> Future[list[JobView]]:
        return ctx.service.queue_imagine(
            account, model.prompt or "", request=echo, channel=model.channel
        )

    view = (await ctx.submit(request, queue))[0]
    return job_response(ctx, request, view, stream=model.stream)


@router.post("/jobs/button")
async def button(request: Request) -> Response:
    ctx, body, model = await job_request(request, ButtonRequest)
    echo = model.echo(body.fields, "button", "jobId", "prompt", "mask")

    def work(account: AccountView) -> tuple[JobView, bool]:
        return ctx.service.press_button(
            account,
            model.jobId or "",
            model.button or "",
            prompt=model.prompt,
            mask=model.mask,
            request=echo,
        )

    view, created = await ctx.call(request, work)
    return job_response(ctx, request, view, stream=model.stream, created=created)


@router.post("/jobs/describe")
async def describe(request: Request) -> Response:
    ctx, body, model = await job_request(request, DescribeRequest)
    source, described = describe_input(model, body)
    echo = model.echo(body.fields) | {"describeUrl": described}

    def work(account: AccountView) -> JobView:
        return ctx.service.describe(account, source, request=echo, channel=model.channel)

    view = await ctx.call(request, work)
    return job_response(ctx, request, view, stream=model.stream)


@router.post("/jobs/blend")
async def blend(request: Request) -> Response:
    ctx, body, model = await job_request(request, BlendRequest)
    inputs, urls = blend_inputs(body)
    echo = model.echo(body.fields) | {
        "blendUrls": urls,
        "blendDimensions": model.blendDimensions,
    }

    def work(account: AccountView) -> JobView:
        images = [ctx.service.load_image(source)[1] for source in inputs]
        return ctx.service.submit_blend(
            account, images, model.blendDimensions, request=echo, channel=model.channel
        )

    view = await ctx.call(request, work)
    return job_response(ctx, request, view, stream=model.stream)


@router.post("/jobs/seed")
async def seed(request: Request) -> Response:
    ctx, body, model = await job_request(request, SeedRequest)
    echo = model.echo(body.fields, "jobId")

    def work(account: AccountView) -> tuple[JobView, bool]:
        return ctx.service.get_seed(account, model.jobId or "", request=echo)

    view, created = await ctx.call(request, work)
    return job_response(ctx, request, view, stream=model.stream, created=created)


@router.get("/jobs")
async def running_jobs(request: Request) -> dict[str, Any]:
    ctx = context_of(request)
    running: RunningJobs = await ctx.call(request, ctx.service.list_running)
    return _running_json(running)


@router.get("/jobs/{jobid}")
async def get_job(jobid: str, request: Request) -> JSONResponse:
    ctx = context_of(request)
    view = await ctx.call(request, lambda account: ctx.service.get_job(jobid, account))
    return JSONResponse(render_job(view, ctx.urls()))


@router.delete("/jobs/{jobid}", status_code=204)
async def cancel_job(jobid: str, request: Request) -> Response:
    ctx = context_of(request)
    await ctx.call(request, lambda account: ctx.service.cancel(account, jobid, queued_too=True))
    return Response(status_code=204)


def _running_json(running: RunningJobs) -> dict[str, Any]:
    from dreamloom.store.types import utcnow

    now = utcnow()
    channels: dict[str, Any] = {}
    images = videos = 0
    for channel, jobs in running.channels:
        items = []
        for job in jobs:
            elapsed = int((now - job.created).total_seconds()) if job.created else 0
            items.append(
                {
                    "jobId": job.id,
                    "channel": channel.id,
                    "jobType": job.job_type if job.job_type in ("image", "video") else None,
                    "verb": job.verb,
                    "status": job.status,
                    "created": iso(job.created),
                    "elapsed": f"{elapsed // 60:02d}:{elapsed % 60:02d}",
                }
            )
        n_images = sum(1 for j in jobs if j.job_type == "image")
        n_videos = sum(1 for j in jobs if j.job_type == "video")
        images += n_images
        videos += n_videos
        channels[channel.id] = {
            "total": len(jobs),
            "images": n_images,
            "videos": n_videos,
            "maxJobs": channel.max_jobs,
            "maxImageJobs": channel.max_image_jobs,
            "maxVideoJobs": channel.max_video_jobs,
            "jobs": items,
        }
    total = sum(c["total"] for c in channels.values())
    return {"total": total, "images": images, "videos": videos, "channels": channels}
