"""The Admin page: the operator's accounts (made with ``web_admins``) list users, create them,
set plans and grant fast time, as ``dreamloom user ...`` does. To anyone else it does not
exist (404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dreamloom.api.context import context_of
from dreamloom.service import ServiceError
from dreamloom.service.signins import WebSessionView
from dreamloom.web.pages import render
from dreamloom.web.session import CSRF_FIELD, page_session, require_form_csrf

router = APIRouter(include_in_schema=False)
NOT_FOUND = "Not Found"


async def _admin(request: Request) -> tuple[WebSessionView, dict[str, Any]]:
    session = await page_session(request)
    if session.account.name not in context_of(request).service.settings.web_admins:
        raise ServiceError(NOT_FOUND, 404)
    form = await request.form() if request.method == "POST" else None
    if form is not None:
        require_form_csrf(session, str(form.get(CSRF_FIELD, "")))
    return session, {k: str(v) for k, v in (form or {}).items()}


async def _show(
    request: Request, session: WebSessionView, status: int = 200, **extra: Any
) -> Response:
    service = context_of(request).service
    users = await run_in_threadpool(service.list_users)
    plans = sorted(service.plans.plans)
    return render(
        request, "admin.html", session, status, page="admin", users=users, plans=plans, **extra
    )


@router.get("/admin")
async def admin_page(request: Request) -> Response:
    session, _ = await _admin(request)
    return await _show(request, session)


@router.post("/admin/users")
async def create_user(request: Request) -> Response:
    session, form = await _admin(request)
    service = context_of(request).service
    name, plan, password = (
        form.get("name", "").strip(),
        form.get("plan", ""),
        form.get("password", ""),
    )

    def create() -> None:
        if password:
            from dreamloom.service.signins import check_password

            check_password(password)
        service.create_user(name, plan)
        if password:
            service.set_password(name, password)

    try:
        await run_in_threadpool(create)
    except ServiceError as err:
        return await _show(request, session, err.status, error=err.message, form=form)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{name}")
async def change_user(name: str, request: Request) -> Response:
    session, form = await _admin(request)
    service = context_of(request).service

    def change() -> None:
        if form.get("plan"):
            service.set_plan(name, form["plan"])
        if form.get("hours"):
            try:
                hours = float(form["hours"])
            except ValueError:
                raise ServiceError("Give the hours as a number, such as 1.5") from None
            service.grant_time(name, form.get("kind", "purchased"), hours)

    try:
        await run_in_threadpool(change)
    except ServiceError as err:
        return await _show(request, session, err.status, error=err.message, who=name)
    return RedirectResponse("/admin", status_code=303)
