"""The Personalize page: profiles and moodboards, ranking pictures, defaults, codes.

Plain forms through the service's personalization use-cases (no script is needed to rank:
each picture of the grid is a checkbox), so it works by keyboard and on a phone; a small
script only copies codes. A refused action is shown next to its form, in the API's words.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from dreamloom.api.context import context_of
from dreamloom.domain import ProfileKind
from dreamloom.service import ServiceError
from dreamloom.service.personalization import key_of
from dreamloom.service.signins import WebSessionView
from dreamloom.web.cards import image_url
from dreamloom.web.pages import render
from dreamloom.web.session import CSRF_FIELD, page_session, require_form_csrf

router = APIRouter(include_in_schema=False)

GRID = 8  # pictures per ranking grid: "a grid of images; click on the images you like"


async def _form(request: Request) -> tuple[WebSessionView, dict[str, Any]]:
    session = await page_session(request)
    form = await request.form()
    fields: dict[str, Any] = {key: form.getlist(key) for key in form}
    require_form_csrf(session, str(next(iter(fields.get(CSRF_FIELD) or [""]))))
    return session, fields


def _one(fields: dict[str, Any], name: str) -> str:
    values = fields.get(name) or [""]
    return str(values[0]).strip()


async def _overview(
    request: Request, session: WebSessionView, status: int = 200, **extra: Any
) -> Response:
    service = context_of(request).service
    profiles = await run_in_threadpool(service.profiles, session.account)
    codes = await run_in_threadpool(service.personalize_codes, session.account)
    return render(
        request,
        "personalize.html",
        session,
        status,
        page="personalize",
        profiles=profiles,
        codes=codes,
        image_url=image_url,
        moodboard=ProfileKind.MOODBOARD,
        global_kind=ProfileKind.GLOBAL,
        **extra,
    )


async def _profile_page(
    request: Request, session: WebSessionView, profile_id: str, status: int = 200, **extra: Any
) -> Response:
    service = context_of(request).service
    account = session.account
    profile = await run_in_threadpool(service.profile, account, profile_id)
    candidates = []
    if profile.kind != ProfileKind.MOODBOARD:
        candidates = await run_in_threadpool(service.rank_candidates, account, profile_id, GRID)
    return render(
        request,
        "personalize_profile.html",
        session,
        status,
        page="personalize",
        profile=profile,
        candidates=candidates,
        image_url=image_url,
        moodboard=ProfileKind.MOODBOARD,
        **extra,
    )


@router.get("/personalize")
async def overview(request: Request) -> Response:
    return await _overview(request, await page_session(request))


@router.post("/personalize/new")
async def new(request: Request) -> Response:
    session, fields = await _form(request)
    kind = ProfileKind.MOODBOARD if _one(fields, "kind") == "moodboard" else ProfileKind.CUSTOM
    service = context_of(request).service
    try:
        made = await run_in_threadpool(
            lambda: service.create_profile(session.account, _one(fields, "name"), kind=kind)
        )
    except ServiceError as err:
        return await _overview(request, session, err.status, errors={kind.value: err.message})
    return RedirectResponse(f"/personalize/{made.id}", status_code=303)


@router.post("/personalize/defaults")
async def defaults(request: Request) -> Response:
    session, fields = await _form(request)
    ids = [str(value) for value in fields.get("default") or []]
    service = context_of(request).service
    await run_in_threadpool(service.select_profiles, session.account, ids)
    return RedirectResponse("/personalize?saved=1", status_code=303)


@router.get("/personalize/{profile_id}")
async def profile_page(request: Request, profile_id: str) -> Response:
    return await _profile_page(request, await page_session(request), profile_id)


@router.post("/personalize/{profile_id}/picks")
async def picks(request: Request, profile_id: str) -> Response:
    """The grid's picks ("Next"), or nothing picked ("Skip")."""
    session, fields = await _form(request)
    shown = [str(key) for key in fields.get("shown") or []]
    picked = [] if _one(fields, "skip") else [str(key) for key in fields.get("picked") or []]
    service = context_of(request).service
    try:
        await run_in_threadpool(service.pick_images, session.account, profile_id, shown, picked)
    except ServiceError as err:
        return await _profile_page(
            request, session, profile_id, err.status, errors={"picks": err.message}
        )
    return RedirectResponse(f"/personalize/{profile_id}", status_code=303)


@router.post("/personalize/{profile_id}/rename")
async def rename(request: Request, profile_id: str) -> Response:
    session, fields = await _form(request)
    service = context_of(request).service
    try:
        await run_in_threadpool(
            service.rename_profile, session.account, profile_id, _one(fields, "name")
        )
    except ServiceError as err:
        return await _overview(request, session, err.status, errors={profile_id: err.message})
    return RedirectResponse("/personalize?saved=1", status_code=303)


@router.post("/personalize/{profile_id}/delete")
async def delete(request: Request, profile_id: str) -> Response:
    session, _ = await _form(request)
    service = context_of(request).service
    try:
        await run_in_threadpool(service.delete_profile, session.account, profile_id)
    except ServiceError as err:
        return await _overview(request, session, err.status, errors={profile_id: err.message})
    return RedirectResponse("/personalize?saved=1", status_code=303)


@router.post("/personalize/{profile_id}/pictures")
async def add_pictures(request: Request, profile_id: str) -> Response:
    """A moodboard's new pictures: an uploaded file (kept as a private image of the account)
    and links or keys of this server's images, one per line."""
    session, fields = await _form(request)
    service = context_of(request).service
    account = session.account
    keys = [key_of(line.strip()) for line in _one(fields, "links").splitlines() if line.strip()]
    try:
        for upload in fields.get("picture") or []:
            if isinstance(upload, UploadFile) and upload.filename:
                data = await upload.read()
                view = await run_in_threadpool(service.upload, account, data)
                keys += [image.key for image in view.images]
        if not keys:
            raise ServiceError("Choose a picture to upload, or paste a link of one")
        await run_in_threadpool(service.add_to_moodboard, account, profile_id, keys)
    except ServiceError as err:
        return await _profile_page(
            request,
            session,
            profile_id,
            err.status,
            errors={"add": err.message},
            links=_one(fields, "links"),  # kept, to be corrected rather than typed again
        )
    return RedirectResponse(f"/personalize/{profile_id}", status_code=303)


@router.post("/personalize/{profile_id}/pictures/remove")
async def remove_pictures(request: Request, profile_id: str) -> Response:
    session, fields = await _form(request)
    keys = [str(key) for key in fields.get("key") or []]
    service = context_of(request).service
    try:
        await run_in_threadpool(service.remove_from_moodboard, session.account, profile_id, keys)
    except ServiceError as err:
        return await _profile_page(
            request, session, profile_id, err.status, errors={"remove": err.message}
        )
    return RedirectResponse(f"/personalize/{profile_id}", status_code=303)
