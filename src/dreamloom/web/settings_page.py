"""The Settings page: the /settings choices as a form, Reset Settings, the custom suffix and
option sets, all through the service's settings use-cases. A refused value is shown next to
its field, in the same words the API answers with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dreamloom.api.context import context_of
from dreamloom.domain import SpeedMode, Variability, Visibility
from dreamloom.prompt.versions import NIJI_VERSIONS, VERSIONS
from dreamloom.service import ServiceError
from dreamloom.service.preferences import STYLIZE_PRESETS, SettingsChange
from dreamloom.service.signins import WebSessionView
from dreamloom.web.pages import render
from dreamloom.web.session import CSRF_FIELD, page_session, require_form_csrf

router = APIRouter(include_in_schema=False)

VERSION_CHOICES = ("default", *reversed(VERSIONS), *(f"niji {n}" for n in reversed(NIJI_VERSIONS)))
# Which field a refusal belongs next to, by the words it uses.
_FIELD_WORDS = (
    ("personalization", ("--p", "ratings", "personaliz")),
    ("visibility", ("stealth", "public")),
    ("speed", ("relax", "turbo", "fast")),
    ("raw", ("--raw", "raw mode")),
    ("stylize", ("stylize",)),
    ("version", ("version", "niji")),
)


def _field_of(message: str) -> str:
    lowered = message.lower()
    for name, words in _FIELD_WORDS:
        if any(word in lowered for word in words):
            return name
    return "form"


def _flag(form: dict[str, str], name: str) -> bool | None:
    value = form.get(name)
    return None if value is None else value == "on"


async def _form(request: Request) -> tuple[WebSessionView, dict[str, str]]:
    session = await page_session(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    require_form_csrf(session, form.get(CSRF_FIELD, ""))
    return session, form


async def _show(
    request: Request, session: WebSessionView, status: int = 200, **extra: Any
) -> Response:
    service = context_of(request).service
    account = await run_in_threadpool(service.account, session.account.id)
    values = service.settings_of(account)
    return render(
        request,
        "settings.html",
        session,
        status,
        page="settings",
        values=values,
        stealth_allowed=service.plans.get(account.plan).stealth_allowed,
        suffix=str(account.settings.get("suffix") or ""),
        options=dict(account.settings.get("option_sets") or {}),
        versions=VERSION_CHOICES,
        presets=STYLIZE_PRESETS,
        **extra,
    )


@router.get("/settings")
async def settings_page(request: Request) -> Response:
    return await _show(request, await page_session(request))


@router.post("/settings")
async def change(request: Request) -> Response:
    session, form = await _form(request)
    # Checkboxes send nothing when off: the form says which ones it holds.
    for box in ("raw", "personalization", "remix"):
        form.setdefault(box, "off")
    try:
        change = SettingsChange(
            version=form.get("version") or None,
            stylize=form.get("stylize") or None,
            raw=_flag(form, "raw"),
            personalization=_flag(form, "personalization"),
            visibility=Visibility(form["visibility"]) if form.get("visibility") else None,
            remix=_flag(form, "remix"),
            variability=Variability(form["variability"]) if form.get("variability") else None,
            speed=SpeedMode(form["speed"]) if form.get("speed") else None,
        )
    except ValueError:
        return await _show(request, session, 400, errors={"form": "Choose one of the options"})
    service = context_of(request).service
    try:
        await run_in_threadpool(lambda: service.change_settings(session.account, change))
    except ServiceError as err:
        errors = {_field_of(err.message): err.message}
        return await _show(request, session, err.status, errors=errors, typed=form)
    return RedirectResponse("/settings?saved=1", status_code=303)


@router.post("/settings/reset")
async def reset(request: Request) -> Response:
    session, _ = await _form(request)
    service = context_of(request).service
    await run_in_threadpool(service.reset_settings, session.account)
    return RedirectResponse("/settings?saved=1", status_code=303)


@router.post("/settings/suffix")
async def suffix(request: Request) -> Response:
    session, form = await _form(request)
    service = context_of(request).service
    try:
        await run_in_threadpool(service.prefer_suffix, session.account, form.get("suffix", ""))
    except ServiceError as err:
        return await _show(request, session, err.status, errors={"suffix": err.message})
    return RedirectResponse("/settings?saved=1#suffix", status_code=303)


@router.post("/settings/options")
async def add_option(request: Request) -> Response:
    session, form = await _form(request)
    service = context_of(request).service
    name, value = form.get("name", ""), form.get("value", "")
    try:
        await run_in_threadpool(service.set_option, session.account, name, value)
    except ServiceError as err:
        return await _show(request, session, err.status, errors={"option": err.message})
    return RedirectResponse("/settings?saved=1#options", status_code=303)


@router.post("/settings/options/{name}/delete")
async def delete_option(name: str, request: Request) -> Response:
    session, _ = await _form(request)
    service = context_of(request).service
    try:
        await run_in_threadpool(service.delete_option, session.account, name)
    except ServiceError as err:
        return await _show(request, session, err.status, errors={"option": err.message})
    return RedirectResponse("/settings?saved=1#options", status_code=303)
