"""The settings commands the useapi.net v3 reference has no endpoint for: changing /settings
(its version selector and buttons), Reset Settings, /prefer suffix, /prefer option set,
/stealth, /public and /show.

Each answers with the command's job in the v3 job shape (``response.content`` the reply text,
``response.settings`` the reference's settings object where the command changes settings), so
a v3 client reads them as it reads POST jobs/settings. Authorised by the account's own token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dreamloom.api.context import context_of
from dreamloom.api.v3.jobs_view import render_job
from dreamloom.api.v3.requests import parse, read_body
from dreamloom.domain import SpeedMode, Variability, Visibility
from dreamloom.service import AccountView, JobView, ServiceError
from dreamloom.service.preferences import SettingsChange

router = APIRouter(prefix="/native", tags=["native settings"])

TEXT_MAX = 6000  # the prompt layer's limit on a suffix or an option's value


class _Body(BaseModel):
    # An unknown field is a 400, not a setting silently left as it was.
    model_config = ConfigDict(extra="forbid")

    channel: str | None = None


class SettingsBody(_Body):
    version: str | None = Field(default=None, max_length=16)
    stylize: int | str | None = None
    raw: bool | None = None
    personalization: bool | None = None
    visibility: Visibility | None = None
    remix: bool | None = None
    variability: Variability | None = None
    speed: SpeedMode | None = None

    def change(self) -> SettingsChange:
        return SettingsChange(
            version=self.version,
            stylize=self.stylize,
            raw=self.raw,
            personalization=self.personalization,
            visibility=self.visibility,
            remix=self.remix,
            variability=self.variability,
            speed=self.speed,
        )


class SuffixBody(_Body):
    suffix: str = Field(max_length=TEXT_MAX)


class OptionBody(_Body):
    value: str = Field(max_length=TEXT_MAX)


class ShowBody(_Body):
    jobId: str | None = None


async def _body(request: Request, model: type[_Body]) -> Any:
    return parse(model, (await read_body(request)).fields)


async def _answer(
    request: Request, work: Callable[[AccountView], JobView], status: int = 200
) -> JSONResponse:
    ctx = context_of(request)
    view = await ctx.call(request, work)
    return JSONResponse(render_job(view, ctx.urls()), status_code=status)


def _echo(body: _Body) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_none=True)


@router.post("/settings")
async def change_settings(request: Request) -> JSONResponse:
    body: SettingsBody = await _body(request, SettingsBody)
    return await _answer(
        request,
        lambda account: context_of(request).service.change_settings(
            account, body.change(), channel=body.channel, request=_echo(body)
        ),
    )


@router.post("/settings/reset")
async def reset_settings(request: Request) -> JSONResponse:
    body: _Body = await _body(request, _Body)
    return await _answer(
        request,
        lambda account: context_of(request).service.reset_settings(
            account, channel=body.channel, request=_echo(body)
        ),
    )


@router.get("/prefer/suffix")
async def show_suffix(request: Request, channel: str | None = None) -> JSONResponse:
    return await _answer(
        request,
        lambda account: context_of(request).service.prefer_suffix(account, None, channel=channel),
    )


@router.put("/prefer/suffix")
async def set_suffix(request: Request) -> JSONResponse:
    body: SuffixBody = await _body(request, SuffixBody)
    return await _answer(
        request,
        lambda account: context_of(request).service.prefer_suffix(
            account, body.suffix, channel=body.channel, request=_echo(body)
        ),
    )


@router.delete("/prefer/suffix")
async def clear_suffix(request: Request, channel: str | None = None) -> JSONResponse:
    return await _answer(
        request,
        lambda account: context_of(request).service.prefer_suffix(account, "", channel=channel),
    )


@router.get("/prefer/options")
async def list_options(request: Request, channel: str | None = None) -> JSONResponse:
    return await _answer(
        request,
        lambda account: context_of(request).service.list_options(account, channel=channel),
    )


@router.put("/prefer/options/{name}")
async def set_option(name: str, request: Request) -> JSONResponse:
    body: OptionBody = await _body(request, OptionBody)
    return await _answer(
        request,
        lambda account: context_of(request).service.set_option(
            account, name, body.value, channel=body.channel, request=_echo(body)
        ),
    )


@router.delete("/prefer/options/{name}")
async def delete_option(name: str, request: Request, channel: str | None = None) -> JSONResponse:
    return await _answer(
        request,
        lambda account: context_of(request).service.delete_option(account, name, channel=channel),
    )


def _switch(verb: str) -> None:
    async def switch(request: Request) -> JSONResponse:
        body: _Body = await _body(request, _Body)
        return await _answer(
            request,
            lambda account: context_of(request).service.run_command(
                account, verb, channel=body.channel, request=_echo(body)
            ),
        )

    switch.__name__ = f"switch_{verb}"
    router.add_api_route(f"/{verb}", switch, methods=["POST"], name=f"native_{verb}")


for _verb in ("stealth", "public"):
    _switch(_verb)


@router.post("/show")
async def show(request: Request) -> JSONResponse:
    body: ShowBody = await _body(request, ShowBody)
    if not body.jobId:
        raise ServiceError("jobId is required")
    job_id = body.jobId
    return await _answer(
        request,
        lambda account: context_of(request).service.show(
            account, job_id, channel=body.channel, request=_echo(body)
        ),
        status=201,
    )
