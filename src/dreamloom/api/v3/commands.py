"""POST jobs/settings, info, fast, relax, turbo, remix, variability: jobs that complete at
once with the account's settings (or a switched mode) in ``response.settings``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dreamloom.api.v3.requests import CommandRequest, job_request
from dreamloom.api.v3.respond import job_response
from dreamloom.service import AccountView, JobView
from dreamloom.service.commands import COMMANDS

router = APIRouter(prefix="/v3/midjourney", tags=["v3 settings"])


def _command_route(verb: str) -> None:
    async def command(request: Request) -> Response:
        ctx, body, model = await job_request(request, CommandRequest)
        echo = model.echo(body.fields)

        def work(account: AccountView) -> JobView:
            return ctx.service.run_command(account, verb, channel=model.channel, request=echo)

        view = await ctx.call(request, work)
        return job_response(ctx, request, view, stream=model.stream)

    command.__name__ = f"command_{verb}"
    router.add_api_route(f"/jobs/{verb}", command, methods=["POST"], name=f"jobs_{verb}")


for _verb in COMMANDS:
    _command_route(_verb)
