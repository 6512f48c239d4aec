"""The web app's pages: sign-in and sign-out, Create, Account.

Forms post back to the page that shows them; an error is shown next to its field, with the
same words the API uses, and the page answers with the error's status.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from dreamloom.api.context import context_of
from dreamloom.service import ServiceError
from dreamloom.service.library import ExploreSort
from dreamloom.service.signins import WebSessionView
from dreamloom.service.usage import TokenView, UsageReport
from dreamloom.web.archive_form import ArchiveForm, parse_when
from dreamloom.web.cards import card, item_card
from dreamloom.web.charts import usage_chart
from dreamloom.web.session import (
    COOKIE,
    CSRF_FIELD,
    CSRF_REFUSED,
    SIGNIN_COOKIE,
    current,
    new_signin_token,
    page_session,
    require_form_csrf,
    secure_cookies,
    set_session_cookie,
    signin_token_matches,
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
FEED_SIZE = 20
USAGE_DAYS = 30
_TAB_NAMES = {
    ExploreSort.NEWEST: "Newest",
    ExploreSort.MOST_LIKED: "Most liked",
    ExploreSort.LIKED: "Likes",
}


def _when(value: str | None) -> datetime | None:
    try:
        return parse_when(value)
    except ValueError:
        return None


def render(
    request: Request,
    template: str,
    session: WebSessionView | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    admins = context_of(request).service.settings.web_admins
    context.update(
        is_admin=session is not None and session.account.name in admins,
        account=session.account if session else None,
        csrf=session.csrf if session else "",
        csrf_field=CSRF_FIELD,
    )
    return templates.TemplateResponse(request, template, context, status_code=status)


def _safe_next(target: str | None) -> str:
    """Only paths of this site: never an absolute URL another site chose."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/imagine"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@router.get("/")
async def home(request: Request) -> Response:
    signed_in = await current(request) is not None
    return RedirectResponse("/imagine" if signed_in else "/signin", status_code=303)


@router.get("/signin")
async def signin_page(request: Request, next: str | None = None) -> Response:
    if await current(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _signin_form(request, next)


def _signin_form(
    request: Request, next: str | None, *, name: str = "", error: str = "", status: int = 200
) -> Response:
    token = new_signin_token()
    response = render(
        request,
        "signin.html",
        None,
        status,
        name=name,
        error=error,
        next=next or "",
        signin_token=token,
    )
    response.set_cookie(
        SIGNIN_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request)
    )
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    target = str(form.get("next", "")) or None
    if not signin_token_matches(request, str(form.get(CSRF_FIELD, ""))):
        return _signin_form(request, target, name=name, error=CSRF_REFUSED, status=403)
    service = context_of(request).service
    try:
        signed = await run_in_threadpool(service.sign_in, name, password)
    except ServiceError as err:
        return _signin_form(request, target, name=name, error=err.message, status=err.status)
    response = RedirectResponse(_safe_next(target), status_code=303)
    set_session_cookie(request, response, signed.token, signed.expires)
    response.delete_cookie(SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    session = await page_session(request)
    form = await request.form()
    require_form_csrf(session, str(form.get(CSRF_FIELD, "")))
    await run_in_threadpool(context_of(request).service.sign_out, request.cookies[COOKIE])
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/imagine")
async def create_page(request: Request) -> Response:
    session = await page_session(request)
    service = context_of(request).service

    def read() -> list[dict[str, Any]]:
        jobs = service.recent_jobs(session.account, FEED_SIZE)
        return [item_card(item) for item in service.with_likes(session.account, jobs)]

    feed = await run_in_threadpool(read)
    return render(request, "create.html", session, feed=feed, page="imagine")


@router.get("/archive")
async def archive_page(request: Request) -> Response:
    """Organize: the account's images, searched and filtered; select, then act on them."""
    session = await page_session(request)
    form = ArchiveForm.from_query(request.query_params)
    service = context_of(request).service
    page = None
    if not form.errors:
        page = await run_in_threadpool(service.archive, session.account, form.query)
    return render(
        request,
        "archive.html",
        session,
        400 if form.errors else 200,
        page="archive",
        form=form,
        feed=[item_card(item) for item in page.items] if page else [],
        older=form.older_link(page.next_before) if page and page.next_before else None,
        stealth=service.plans.get(session.account.plan).stealth_allowed,
    )


@router.get("/explore")
async def explore_page(request: Request, tab: str = "newest", offset: int = 0) -> Response:
    """Everyone's public images: newest, most liked, or the ones this account liked."""
    session = await page_session(request)
    try:
        sort = ExploreSort(tab)
    except ValueError:
        sort = ExploreSort.NEWEST
    before = _when(request.query_params.get("before"))
    service = context_of(request).service
    page = await run_in_threadpool(
        lambda: service.explore(session.account, sort, before=before, offset=max(0, offset))
    )
    older = None
    if page.next_before is not None:
        older = f"/explore?tab={sort}&before={quote(page.next_before.isoformat())}"
    elif page.next_offset is not None:
        older = f"/explore?tab={sort}&offset={page.next_offset}"
    return render(
        request,
        "explore.html",
        session,
        page="explore",
        tab=sort.value,
        tabs=[(s.value, _TAB_NAMES[s]) for s in ExploreSort],
        feed=[item_card(item) for item in page.items],
        older=older,
    )


@router.get("/editor/{job_id}")
async def editor_page(job_id: str, request: Request) -> Response:
    """Vary (Region): paint the area to change on the picture, edit the prompt with Remix."""
    session = await page_session(request)
    service = context_of(request).service
    try:
        job = await run_in_threadpool(service.get_job, job_id, session.account)
    except ServiceError as err:
        return render(request, "message.html", session, err.status, message=err.message)
    if "Vary (Region)" not in job.buttons:
        message = "Vary (Region) is not offered on this image (pick one picture of a grid first)"
        return render(request, "message.html", session, 400, message=message)
    remix = bool(session.account.settings.get("remix"))
    return render(request, "editor.html", session, page="imagine", job=card(job), remix=remix)


@router.get("/account")
async def account_page(request: Request) -> Response:
    session = await page_session(request)
    return await _account(request, session)


async def _account(
    request: Request, session: WebSessionView, status: int = 200, **extra: Any
) -> Response:
    service = context_of(request).service

    def read() -> tuple[UsageReport, list[TokenView]]:
        return service.usage(session.account, USAGE_DAYS), service.tokens(session.account)

    report, tokens = await run_in_threadpool(read)
    return render(
        request,
        "account.html",
        session,
        status,
        page="account",
        usage=report,
        chart=usage_chart(report),
        tokens=[t for t in tokens if not t.revoked],
        **extra,
    )


@router.post("/account/tokens")
async def new_token(request: Request) -> Response:
    session = await page_session(request)
    form = await request.form()
    require_form_csrf(session, str(form.get(CSRF_FIELD, "")))
    token = await run_in_threadpool(context_of(request).service.new_token, session.account)
    return await _account(request, session, new_token=token)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(token_id: int, request: Request) -> Response:
    session = await page_session(request)
    form = await request.form()
    require_form_csrf(session, str(form.get(CSRF_FIELD, "")))
    await run_in_threadpool(context_of(request).service.revoke_token, session.account, token_id)
    return RedirectResponse("/account#tokens", status_code=303)


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    session = await page_session(request)
    form = await request.form()
    require_form_csrf(session, str(form.get(CSRF_FIELD, "")))
    service = context_of(request).service
    try:
        await run_in_threadpool(
            service.change_password,
            request.cookies[COOKIE],
            str(form.get("current", "")),
            str(form.get("new", "")),
        )
    except ServiceError as err:
        field = "current" if "current" in err.message else "new"
        return await _account(request, session, err.status, errors={field: err.message})
    return await _account(request, session, changed=True)
