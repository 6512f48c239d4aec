"""How a jobs/* POST answers: the SSE stream (``stream: true``, the default) or the job as
JSON (201 for a new job, shown as created; 200 for an execute-once button pressed again)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from dreamloom.api.context import ApiContext
from dreamloom.api.v3.jobs_view import render_created, render_job
from dreamloom.api.v3.streaming import JobStream
from dreamloom.service import JobView


def job_response(
    ctx: ApiContext,
    request: Request,
    view: JobView,
    *,
    stream: bool,
    created: bool = True,
) -> Response:
    urls = ctx.urls()
    if stream:
        return StreamingResponse(
            JobStream(ctx, view, urls).body(),
            status_code=200,
            media_type="text/event-stream",
            # Proxies must pass events on as they come.
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    if created:
        return JSONResponse(render_created(view), status_code=201)
    # An execute-once button pressed again: the job it made, as it is now.
    return JSONResponse(render_job(view, urls), status_code=200)
