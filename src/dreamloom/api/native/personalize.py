"""Personalization over the native API (bearer tokens): profiles and moodboards, pictures to
rank and the picks, default profiles, codes (/list_personalize_codes). The web app's
Personalize page calls the same use-cases.

Pictures are named by their image key or by their link (``/images/KEY.png``), so that a link
from any other answer (an upload, the archive) can be added to a moodboard as it is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dreamloom.api.context import context_of
from dreamloom.api.urls import Urls
from dreamloom.api.v3.requests import parse, read_body
from dreamloom.domain import ProfileKind
from dreamloom.service.personalization import (
    GRID_MAX,
    NAME_MAX,
    Candidate,
    CodeView,
    Picture,
    ProfileView,
    key_of,
)

router = APIRouter(prefix="/native/personalize", tags=["native personalization"])

PICKS_MAX = 64


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewProfile(_Body):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    kind: ProfileKind = ProfileKind.CUSTOM


class Rename(_Body):
    name: str = Field(min_length=1, max_length=NAME_MAX)


class Picks(_Body):
    shown: list[str] = Field(min_length=1, max_length=PICKS_MAX)
    picked: list[str] = Field(default_factory=list, max_length=PICKS_MAX)


class Pictures(_Body):
    images: list[str] = Field(min_length=1, max_length=PICKS_MAX)


class Defaults(_Body):
    ids: list[str] = Field(max_length=PICKS_MAX)


def _keys(values: list[str]) -> list[str]:
    return [key_of(value) for value in values]


def _picture(urls: Urls, picture: Picture) -> dict[str, Any]:
    return {"key": picture.key, "url": urls.image(picture.key, stealth=picture.stealth)}


def render_profile(urls: Urls, view: ProfileView) -> dict[str, Any]:
    return {
        "id": view.id,
        "kind": view.kind,
        "version": view.version,
        "name": view.name,
        "default": view.is_default,
        "rankings": view.rankings,
        "needed": view.needed,
        "unlocked": view.unlocked,
        "latest_code": view.latest_code,
        "pictures": [_picture(urls, p) for p in view.pictures],
    }


def _candidate(urls: Urls, candidate: Candidate) -> dict[str, Any]:
    return {
        **_picture(urls, candidate.picture),
        "jobid": candidate.job_id,
        "index": candidate.index,
        "prompt": candidate.prompt,
    }


def _code(view: CodeView) -> dict[str, Any]:
    return {
        "code": view.code,
        "profile": view.profile_id,
        "name": view.profile_name,
        "kind": view.kind,
        "version": view.version,
        "created": view.created.isoformat(),
        "deleted": view.deleted,
    }


async def _body(request: Request, model: type[_Body]) -> Any:
    return parse(model, (await read_body(request)).fields)


@router.get("/profiles")
async def profiles(request: Request) -> dict[str, Any]:
    """The account's profiles (a global one per version first) and moodboards."""
    ctx = context_of(request)
    views = await ctx.call(request, ctx.service.profiles)
    return {"profiles": [render_profile(ctx.urls(), v) for v in views]}


@router.post("/profiles", status_code=201)
async def create(request: Request) -> dict[str, Any]:
    """A custom profile (once the global one is unlocked) or a moodboard."""
    ctx = context_of(request)
    body: NewProfile = await _body(request, NewProfile)
    view = await ctx.call(
        request, lambda account: ctx.service.create_profile(account, body.name, kind=body.kind)
    )
    return render_profile(ctx.urls(), view)


@router.get("/profiles/{profile_id}")
async def profile(request: Request, profile_id: str) -> dict[str, Any]:
    ctx = context_of(request)
    view = await ctx.call(request, lambda account: ctx.service.profile(account, profile_id))
    return render_profile(ctx.urls(), view)


@router.patch("/profiles/{profile_id}")
async def rename(request: Request, profile_id: str) -> dict[str, Any]:
    ctx = context_of(request)
    body: Rename = await _body(request, Rename)
    view = await ctx.call(
        request, lambda account: ctx.service.rename_profile(account, profile_id, body.name)
    )
    return render_profile(ctx.urls(), view)


@router.delete("/profiles/{profile_id}", status_code=204)
async def delete(request: Request, profile_id: str) -> Response:
    """Gone from the list; the codes it made keep working."""
    ctx = context_of(request)
    await ctx.call(request, lambda account: ctx.service.delete_profile(account, profile_id))
    return Response(status_code=204)


@router.get("/profiles/{profile_id}/candidates")
async def candidates(
    request: Request, profile_id: str, count: Annotated[int, Query(ge=2, le=GRID_MAX)] = 2
) -> dict[str, Any]:
    """Pictures to pick from: a pair (``count=2``) or a grid."""
    ctx = context_of(request)
    found = await ctx.call(
        request, lambda account: ctx.service.rank_candidates(account, profile_id, count)
    )
    return {"images": [_candidate(ctx.urls(), c) for c in found]}


@router.post("/profiles/{profile_id}/picks")
async def pick(request: Request, profile_id: str) -> dict[str, Any]:
    """The pictures picked among those shown (none picked: a skip)."""
    ctx = context_of(request)
    body: Picks = await _body(request, Picks)
    shown, picked = _keys(body.shown), _keys(body.picked)
    view = await ctx.call(
        request, lambda account: ctx.service.pick_images(account, profile_id, shown, picked)
    )
    return render_profile(ctx.urls(), view)


@router.post("/profiles/{profile_id}/images")
async def add_images(request: Request, profile_id: str) -> dict[str, Any]:
    """Pictures into a moodboard (keys or links: uploads, generated images)."""
    ctx = context_of(request)
    body: Pictures = await _body(request, Pictures)
    keys = _keys(body.images)
    view = await ctx.call(
        request, lambda account: ctx.service.add_to_moodboard(account, profile_id, keys)
    )
    return render_profile(ctx.urls(), view)


@router.post("/profiles/{profile_id}/images/remove")
async def remove_images(request: Request, profile_id: str) -> dict[str, Any]:
    ctx = context_of(request)
    body: Pictures = await _body(request, Pictures)
    keys = _keys(body.images)
    view = await ctx.call(
        request, lambda account: ctx.service.remove_from_moodboard(account, profile_id, keys)
    )
    return render_profile(ctx.urls(), view)


@router.post("/profiles/{profile_id}/code")
async def current_code(request: Request, profile_id: str) -> dict[str, Any]:
    """The profile's code as it is now: what `--p ID` becomes at submission."""
    ctx = context_of(request)
    code = await ctx.call(request, lambda account: ctx.service.current_code(account, profile_id))
    return {"code": code, "parameter": f"--p {code}"}


@router.post("/defaults")
async def select_defaults(request: Request) -> dict[str, Any]:
    """The profiles a bare `--p` uses (per version; none chosen: the global one)."""
    ctx = context_of(request)
    body: Defaults = await _body(request, Defaults)
    await ctx.call(request, lambda account: ctx.service.select_profiles(account, body.ids))
    views = await ctx.call(request, ctx.service.profiles)
    return {"profiles": [render_profile(ctx.urls(), v) for v in views]}


@router.get("/codes")
async def codes(request: Request) -> dict[str, Any]:
    """/list_personalize_codes: every code the account's profiles made, newest first."""
    ctx = context_of(request)
    found = await ctx.call(request, ctx.service.personalize_codes)
    return {"codes": [_code(c) for c in found]}
