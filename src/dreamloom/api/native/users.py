"""POST /native/users: the operator creates accounts and hands out their API tokens.

Authorised by ``Settings.admin_token`` (compared in constant time); without one configured
these endpoints answer 404, as if they did not exist.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from dreamloom.api.context import bearer_token, context_of
from dreamloom.api.v3.requests import parse, read_body
from dreamloom.service import AccountView, ServiceError
from dreamloom.service.signins import check_password

router = APIRouter(prefix="/native", tags=["native"])


class NewUser(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    plan: str | None = None
    # The web app's password; without one the account uses API tokens only.
    password: str | None = None


class UserChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    plan: str | None = None
    lift_timeout: bool = False


def _require_admin(request: Request) -> None:
    configured = context_of(request).service.settings.admin_token
    if not configured:
        raise ServiceError("Not Found", 404)
    if not hmac.compare_digest(bearer_token(request).encode(), configured.encode()):
        raise ServiceError("Unauthorized", 401)


@router.post("/users", status_code=201)
async def create_user(request: Request) -> dict[str, Any]:
    _require_admin(request)
    service = context_of(request).service
    model = parse(NewUser, (await read_body(request)).fields)
    plan = model.plan or service.plans.default_plan
    if model.password is not None:
        check_password(model.password)  # before the account exists: nothing half made

    def create() -> tuple[AccountView, str]:
        account, token = service.create_user(model.name, plan)
        if model.password is not None:
            service.set_password(model.name, model.password)
        return account, token

    account, token = await run_in_threadpool(create)
    return {"name": account.name, "plan": account.plan, "token": token}


@router.post("/users/{name}/tokens", status_code=201)
async def issue_token(name: str, request: Request) -> dict[str, Any]:
    _require_admin(request)
    service = context_of(request).service
    token = await run_in_threadpool(service.issue_token, name)
    return {"name": name, "token": token}


@router.patch("/users/{name}")
async def change_user(name: str, request: Request) -> dict[str, Any]:
    _require_admin(request)
    service = context_of(request).service
    model = parse(UserChange, (await read_body(request)).fields)
    account = None
    if model.plan is not None:
        account = await run_in_threadpool(service.set_plan, name, model.plan)
    if model.lift_timeout:
        account = await run_in_threadpool(service.lift_timeout, name)
    if account is None:
        raise ServiceError("Nothing to change: give plan or lift_timeout")
    return {"name": account.name, "plan": account.plan}
