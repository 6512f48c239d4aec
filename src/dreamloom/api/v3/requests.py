"""Request bodies of the v3 endpoints: JSON or multipart/form-data, as pydantic models.

Every POST jobs/* accepts both encodings (the reference: multipart "is required for Blob
content uploads"); form fields arrive as text, which pydantic's lax mode turns into booleans
and numbers. Validation failures become 400 ``{"error": ...}`` with the reference's texts
where it has them ("Parameter prompt is required", "jobId is required", ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from starlette.datastructures import UploadFile

from dreamloom.api.context import ApiContext, context_of
from dreamloom.api.json_body import check_text, load_json
from dreamloom.service import ImageInput, ServiceError

MAX_UPLOAD = 10 * 1024 * 1024  # the reference: images up to 10 MB
REPLY_FIELD_MAX = 1024

M = TypeVar("M", bound=BaseModel)


@dataclass
class Body:
    fields: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


async def read_body(request: Request) -> Body:
    """The request's fields (JSON object or form) and uploaded files (at most 10 MB each)."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_files=8, max_fields=64)
        body = Body()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(MAX_UPLOAD + 1)
                await value.close()
                if len(data) > MAX_UPLOAD:
                    raise ServiceError(f"{key} is larger than 10 MB")
                body.files[key] = data
            else:
                body.fields[key] = value
        check_text(body.fields)
        return body
    raw = await request.body()
    if not raw.strip():
        return Body()
    data = load_json(raw)
    if not isinstance(data, dict):
        raise ServiceError("Request body must be a JSON object")
    return Body(fields=data)


def parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        message = str(first.get("msg", "Invalid request"))
        message = message.removeprefix("Value error, ")
        if first.get("type") not in ("value_error", "assertion_error"):
            where = ".".join(str(p) for p in first.get("loc", ()))
            message = f"Parameter {where}: {message}" if where else message
        raise ServiceError(message) from None


class Common(BaseModel):
    """Parameters of every POST jobs/*."""

    model_config = ConfigDict(extra="ignore")

    stream: bool = True
    replyUrl: str | None = None
    replyRef: str | None = None
    replyLevel: Literal["all", "standard", "minimal"] = "all"

    @field_validator("replyUrl", "replyRef")
    @classmethod
    def _short(cls, value: str | None) -> str | None:
        if value is not None and len(value) > REPLY_FIELD_MAX:
            raise ValueError(f"replyUrl and replyRef must be at most {REPLY_FIELD_MAX} characters")
        return value

    @field_validator("replyUrl")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError("replyUrl must be an http(s) URL")
        return value or None

    @field_validator("replyLevel", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        if value not in (None, "all", "standard", "minimal"):
            raise ValueError("replyLevel must be one of all, standard, minimal")
        return value or "all"

    def echo(self, raw: dict[str, Any], *extra: str) -> dict[str, Any]:
        """The request as the job echoes it: the common fields the client sent, and
        ``extra`` fields."""
        names = ("replyUrl", "replyRef", "replyLevel", "channel", *extra)
        out = {name: raw[name] for name in names if raw.get(name) not in (None, "")}
        if "stream" in raw:
            out["stream"] = self.stream  # a form's "false" echoes as the boolean it means
        return out


class WithChannel(Common):
    channel: str | None = None


class ImagineRequest(WithChannel):
    prompt: str | None = None

    @model_validator(mode="after")
    def _required(self) -> ImagineRequest:
        if not self.prompt or not self.prompt.strip():
            raise ValueError("Parameter prompt is required")
        return self


class ButtonRequest(Common):
    jobId: str | None = None
    button: str | None = None
    mask: str | None = None
    prompt: str | None = None

    @model_validator(mode="after")
    def _required(self) -> ButtonRequest:
        if not self.jobId:
            raise ValueError("jobId is required")
        if not self.button:
            raise ValueError("button is required")
        return self


class SeedRequest(Common):
    jobId: str | None = None

    @model_validator(mode="after")
    def _required(self) -> SeedRequest:
        if not self.jobId:
            raise ValueError("jobId is required")
        return self


class DescribeRequest(WithChannel):
    imageUrl: str | None = None


class BlendRequest(WithChannel):
    blendDimensions: Literal["Portrait", "Square", "Landscape"] = "Square"

    @field_validator("blendDimensions", mode="before")
    @classmethod
    def _dimensions(cls, value: Any) -> Any:
        if value in (None, ""):
            return "Square"
        if value not in ("Portrait", "Square", "Landscape"):
            raise ValueError("blendDimensions must be Portrait, Square or Landscape")
        return value


class CommandRequest(WithChannel):
    pass


class AccountRequest(BaseModel):
    """POST /accounts. ``discord`` is optional here: no Discord is involved."""

    model_config = ConfigDict(extra="ignore")

    discord: str | None = None
    channel: str | None = None
    maxJobs: int | None = None
    maxImageJobs: int | None = None
    maxVideoJobs: int | None = None
    replyUrl: str | None = None


def describe_input(model: DescribeRequest, body: Body) -> tuple[ImageInput, str]:
    """The image to describe and its echo (``describeUrl``: the URL, or "blob")."""
    blob = body.files.get("imageBlob")
    if blob is not None and model.imageUrl:
        raise ServiceError("Give either imageUrl or imageBlob, not both")
    if blob is not None:
        return ImageInput(blob=blob), "blob"
    if model.imageUrl:
        return ImageInput(url=model.imageUrl), model.imageUrl
    raise ServiceError("Either imageUrl or imageBlob is required")


def blend_inputs(body: Body) -> tuple[list[ImageInput], list[str]]:
    """imageUrl_N / imageBlob_N (N = 1..5, URLs and blobs mixed) and their echo."""
    inputs: list[ImageInput] = []
    echo: list[str] = []
    for n in range(1, 6):
        url = body.fields.get(f"imageUrl_{n}")
        blob = body.files.get(f"imageBlob_{n}")
        if url and blob is not None:
            raise ServiceError(f"Give either imageUrl_{n} or imageBlob_{n}, not both")
        if blob is not None:
            inputs.append(ImageInput(blob=blob))
            echo.append(f"blob_{len(echo)}")
        elif url:
            inputs.append(ImageInput(url=str(url)))
            echo.append(str(url))
    if len(inputs) < 2:
        raise ServiceError("At least 2 images are required for blend")
    return inputs, echo


C = TypeVar("C", bound=Common)


async def job_request(request: Request, model: type[C]) -> tuple[ApiContext, Body, C]:
    """What every POST jobs/* starts with: the body read and parsed into ``model``, and its
    ``replyUrl`` checked (a 400 before anything is admitted)."""
    ctx = context_of(request)
    body = await read_body(request)
    parsed = parse(model, body.fields)
    await ctx.check_reply_url(parsed.replyUrl)
    return ctx, body, parsed
