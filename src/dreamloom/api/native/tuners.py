"""The Style Tuner over the native API (bearer tokens): /tune, drawing looks, the code of the
picks, /list_tuners. A tuner's looks are ordinary jobs, rendered here in the v3 job shape."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from dreamloom.api.context import context_of
from dreamloom.api.urls import Urls
from dreamloom.api.v3.jobs_view import render_job
from dreamloom.api.v3.requests import parse, read_body
from dreamloom.prompt.style_codes import DIRECTIONS, Side
from dreamloom.service.tuners import DEFAULT_DIRECTIONS, DRAW_MAX, TunerView

router = APIRouter(prefix="/native/tuners", tags=["native style tuner"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewTuner(_Body):
    prompt: str = Field(min_length=1, max_length=5000)
    directions: int = DEFAULT_DIRECTIONS


class Draw(_Body):
    directions: list[int] = Field(min_length=1, max_length=DRAW_MAX)


class Picks(_Body):
    # direction (as JSON keys are: text) -> "A" or "B"
    picks: dict[int, Literal["A", "B"]] = Field(max_length=max(DIRECTIONS))


def render_tuner(urls: Urls, view: TunerView) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for look in view.looks:
        if look.side is Side.A:
            rows.append({"direction": look.direction})
        rows[-1][look.side.name] = {
            "code": look.code,
            "job": render_job(look.job, urls) if look.job is not None else None,
        }
    return {
        "id": view.id,
        "prompt": view.prompt,
        "seed": view.seed,
        "directions": view.directions,
        "created": view.created.isoformat(),
        "rows": rows,
    }


async def _body(request: Request, model: type[_Body]) -> Any:
    return parse(model, (await read_body(request)).fields)


@router.post("", status_code=201)
async def create(request: Request) -> dict[str, Any]:
    """/tune PROMPT (Version 5.2): a tuner with ``directions`` pairs of looks, none drawn yet."""
    ctx = context_of(request)
    body: NewTuner = await _body(request, NewTuner)
    view = await ctx.call(
        request, lambda account: ctx.service.create_tuner(account, body.prompt, body.directions)
    )
    return render_tuner(ctx.urls(), view)


@router.get("")
async def list_tuners(request: Request) -> dict[str, Any]:
    """/list_tuners: the account's tuners, newest first."""
    ctx = context_of(request)
    views = await ctx.call(request, ctx.service.list_tuners)
    return {"tuners": [render_tuner(ctx.urls(), v) for v in views]}


@router.get("/{tuner_id}")
async def tuner(request: Request, tuner_id: str) -> dict[str, Any]:
    """A tuner, for any account: tuner links are public."""
    ctx = context_of(request)
    view = await ctx.call(request, lambda account: ctx.service.tuner(account, tuner_id))
    return render_tuner(ctx.urls(), view)


@router.post("/{tuner_id}/draw")
async def draw(request: Request, tuner_id: str) -> dict[str, Any]:
    """Queue the jobs that draw both looks of a few directions (the creator's)."""
    ctx = context_of(request)
    body: Draw = await _body(request, Draw)
    view = await ctx.call(
        request, lambda account: ctx.service.draw_tuner(account, tuner_id, body.directions)
    )
    return render_tuner(ctx.urls(), view)


@router.post("/{tuner_id}/code")
async def code(request: Request, tuner_id: str) -> dict[str, Any]:
    """The `--style` code of the picks, e.g. ``{"picks": {"0": "A", "5": "B"}}``."""
    ctx = context_of(request)
    body: Picks = await _body(request, Picks)
    picks = {direction: Side[side] for direction, side in body.picks.items()}
    made = await ctx.call(request, lambda _account: ctx.service.tuner_code(tuner_id, picks))
    return {"code": made, "parameter": f"--style {made}"}
