"""The Style Tuner page: /tune makes a tuner and lists the account's ones (/list_tuners);
/tune/ID shows its looks row by row, A beside B, lets its creator draw them, and anyone signed
in pick among the drawn ones and get the `--style` code of the picks.

The rows come as JSON (the same shape for the first render and each poll) and the page's script
draws them; a refusal is shown next to its field, in the service's own words.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from dreamloom.api.context import context_of
from dreamloom.api.v3.requests import M, parse, read_body
from dreamloom.prompt.style_codes import DIRECTIONS, Side
from dreamloom.service import ServiceError
from dreamloom.service.signins import WebSessionView
from dreamloom.service.tuners import DEFAULT_DIRECTIONS, DRAW_MAX, TunerView
from dreamloom.web.cards import card
from dreamloom.web.pages import render
from dreamloom.web.session import CSRF_FIELD, api_session, page_session, require_form_csrf

router = APIRouter(include_in_schema=False)


class DrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    directions: list[int] = Field(min_length=1, max_length=DRAW_MAX)


class PicksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # direction (JSON keys are text) -> "A" or "B"; a direction left out is "neither"
    picks: dict[int, Literal["A", "B"]] = Field(max_length=max(DIRECTIONS))


async def _json(request: Request, model: type[M]) -> M:
    return parse(model, (await read_body(request)).fields)


def tuner_json(view: TunerView, viewer_id: int) -> dict[str, Any]:
    """A tuner for the page's script: a row per direction with its two looks (a look's job as
    the feed's card, or None while not drawn)."""
    rows: list[dict[str, Any]] = []
    for look in view.looks:
        if look.side is Side.A:
            rows.append({"direction": look.direction})
        job = card(look.job) if look.job is not None else None
        rows[-1][look.side.name] = {"code": look.code, "job": job}
    return {
        "id": view.id,
        "prompt": view.prompt,
        "directions": view.directions,
        "mine": view.owner_id == viewer_id,
        "draw_max": DRAW_MAX,
        "rows": rows,
    }


def _drawn(view: TunerView) -> int:
    """How many directions have a look drawn."""
    return len({look.direction for look in view.looks if look.job is not None})


async def _list_page(
    request: Request, session: WebSessionView, status: int = 200, **extra: Any
) -> Response:
    service = context_of(request).service
    tuners = await run_in_threadpool(service.list_tuners, session.account)
    return render(
        request,
        "tune.html",
        session,
        status,
        page="tune",
        tuners=[(t, _drawn(t)) for t in tuners],
        choices=DIRECTIONS,
        default=DEFAULT_DIRECTIONS,
        **extra,
    )


@router.get("/tune")
async def tune_page(request: Request) -> Response:
    return await _list_page(request, await page_session(request))


@router.post("/tune")
async def create(request: Request) -> Response:
    session = await page_session(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    require_form_csrf(session, form.get(CSRF_FIELD, ""))
    prompt = form.get("prompt", "").strip()
    typed = {"prompt": prompt, "directions": form.get("directions", "")}
    if not prompt:
        errors = {"prompt": "Write the prompt to tune"}
        return await _list_page(request, session, 400, errors=errors, typed=typed)
    try:
        directions = int(typed["directions"] or DEFAULT_DIRECTIONS)
    except ValueError:
        directions = 0  # refused by the service, in its words
    service = context_of(request).service
    try:
        view = await run_in_threadpool(service.create_tuner, session.account, prompt, directions)
    except ServiceError as err:
        field = "directions" if err.message.startswith("directions") else "prompt"
        errors = {field: err.message}
        return await _list_page(request, session, err.status, errors=errors, typed=typed)
    return RedirectResponse(f"/tune/{view.id}", status_code=303)


@router.get("/tune/{tuner_id}")
async def tuner_page(tuner_id: str, request: Request) -> Response:
    session = await page_session(request)
    service = context_of(request).service
    try:
        view = await run_in_threadpool(service.tuner, session.account, tuner_id)
    except ServiceError as err:
        return render(request, "message.html", session, err.status, message=err.message)
    return render(
        request,
        "tuner.html",
        session,
        page="tune",
        tuner=tuner_json(view, session.account.id),
    )


@router.get("/web/tune/{tuner_id}")
async def rows(tuner_id: str, request: Request) -> dict[str, Any]:
    """The tuner again, for the page's script while its looks are drawn."""
    session = await api_session(request)
    service = context_of(request).service
    view = await run_in_threadpool(service.tuner, session.account, tuner_id)
    return tuner_json(view, session.account.id)


@router.post("/web/tune/{tuner_id}/draw")
async def draw(tuner_id: str, request: Request) -> dict[str, Any]:
    """Draw both looks of a few directions (the creator's alone: others are refused, 403)."""
    session = await api_session(request, changes=True)
    body = await _json(request, DrawIn)
    service = context_of(request).service
    view = await run_in_threadpool(service.draw_tuner, session.account, tuner_id, body.directions)
    return tuner_json(view, session.account.id)


@router.post("/web/tune/{tuner_id}/code")
async def code(tuner_id: str, request: Request) -> dict[str, Any]:
    """The `--style` code of the picks, e.g. ``{"picks": {"0": "A", "5": "B"}}``."""
    # Any signed-in account may pick (tuner links are public); the CSRF check all the same.
    await api_session(request, changes=True)
    body = await _json(request, PicksIn)
    picks = {direction: Side[side] for direction, side in body.picks.items()}
    service = context_of(request).service
    made = await run_in_threadpool(service.tuner_code, tuner_id, picks)
    return {"code": made, "parameter": f"--style {made}"}
