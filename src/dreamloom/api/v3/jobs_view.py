"""The useapi.net v3 job object (GET /jobs/{jobid}, SSE events, webhooks) from a JobView.

The reference's ``response`` is an "enhanced Discord message": ``content`` is the line
Midjourney posts (the prompt with its resolved parameters, who asked, progress and speed
mode), ``attachments[0]`` the grid, ``imageUx`` the four images, ``buttons`` what may be
pressed next. Everything here is derived from the view; nothing is stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from dreamloom.api.urls import Urls
from dreamloom.api.v3.settings_panel import settings_panel
from dreamloom.domain import JobStatus, SpeedMode, Verb
from dreamloom.service import ImageView, JobView

IMAGE_VERBS: Final = (Verb.IMAGINE, Verb.BLEND, Verb.BUTTON, Verb.SHOW)
_MODE_WORDS: Final[dict[str, str]] = {
    SpeedMode.FAST: "fast",
    SpeedMode.RELAX: "relaxed",
    SpeedMode.TURBO: "turbo",
}
_STATUS_CODES: Final[dict[str, int]] = {
    JobStatus.COMPLETED: 200,
    JobStatus.FAILED: 500,
    JobStatus.MODERATED: 422,
}
_MODERATION_COLOR: Final = 16711680


@dataclass(frozen=True)
class LiveState:
    """What an event says about a job at its moment (the database may be further on)."""

    status: str
    progress: int = 0
    error: str | None = None
    preview_path: str | None = None
    at: datetime | None = None  # when it happened: the job's "updated" in the event


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def render_job(view: JobView, urls: Urls, live: LiveState | None = None) -> dict[str, Any]:
    """The reference's job object; ``live`` overrides status/progress for an event."""
    status = live.status if live is not None else view.status
    progress = live.progress if live is not None else view.progress
    error = (live.error if live is not None else None) or view.error
    if status == JobStatus.COMPLETED:
        progress = 100
    job: dict[str, Any] = {"jobid": view.id, "verb": view.verb}
    if view.verb in IMAGE_VERBS:
        job["jobType"] = "image"
    job["status"] = status
    job["created"] = iso(view.created)
    updated = live.at if live is not None and live.at is not None else view.updated
    if updated is not None:
        job["updated"] = iso(updated)
    job["request"] = dict(view.request)
    response = _response(view, urls, status, progress, live)
    if response:
        job["response"] = response
    if status in (JobStatus.FAILED, JobStatus.MODERATED) and error:
        job["error"] = error
        if status == JobStatus.MODERATED:
            job["errorDetails"] = "Your job was blocked by this server's moderation filters."
    code = _STATUS_CODES.get(status)
    if code is not None:
        job["code"] = code
    return job


def render_created(view: JobView) -> dict[str, Any]:
    """The job as the 201 of its POST shows it: just created, as in the reference's examples,
    whatever happened since (a job may finish before its 201 is written). GET, the stream and
    webhooks show what followed."""
    job: dict[str, Any] = {"jobid": view.id, "verb": view.verb}
    if view.verb in IMAGE_VERBS:
        job["jobType"] = "image"
    job["status"] = JobStatus.CREATED
    job["created"] = iso(view.created)
    job["request"] = dict(view.request)
    return job


def _response(
    view: JobView, urls: Urls, status: str, progress: int, live: LiveState | None
) -> dict[str, Any]:
    stored = {k: v for k, v in view.response.items() if not k.startswith("_")}
    response: dict[str, Any] = {}
    reply_ref = view.request.get("replyRef")
    if reply_ref is not None:
        response["replyRef"] = reply_ref
    if view.verb not in IMAGE_VERBS:
        # Text results (settings commands, describe, seed) carry what they stored.
        response.update(stored)
        settings = stored.get("settings")
        if view.verb == Verb.SETTINGS and isinstance(settings, dict) and "version" in settings:
            # The whole panel, as the reference's settings job carries it.
            response["components"] = settings_panel(settings)
        if view.verb == Verb.SEED and status == JobStatus.COMPLETED:
            response["attachments"] = [_attachment(view, img, urls) for img in view.images]
        if status == JobStatus.COMPLETED:
            response["progress_percent"] = 100
        return response if (response or status != JobStatus.CREATED) else {}
    if status == JobStatus.CREATED and not stored:
        return response
    response["content"] = content_line(view, status, progress)
    if status in (JobStatus.PROGRESS, JobStatus.COMPLETED):
        response["progress_percent"] = progress
    if status == JobStatus.PROGRESS:
        preview = live.preview_path if live is not None else view.preview_path
        if preview:
            stealth = view.visibility == "stealth"
            response["attachments"] = [
                {
                    "id": f"{view.id}-preview",
                    "filename": f"{view.id}_grid_preview.png",
                    "url": urls.preview(view.id, progress, stealth=stealth),
                    "proxy_url": urls.preview(view.id, progress, stealth=stealth),
                    "content_type": "image/png",
                }
            ]
    if status == JobStatus.COMPLETED:
        _add_results(response, view, urls)
    if status == JobStatus.MODERATED:
        response["embeds"] = [
            {
                "title": "Action needed to continue",
                "description": view.error or "Your job was blocked by moderation.",
                "color": _MODERATION_COLOR,
            }
        ]
    response.update(stored)
    return response


def _add_results(response: dict[str, Any], view: JobView, urls: Urls) -> None:
    images = {img.index: img for img in view.images}
    grid = images.get(0)
    singles = [images[i] for i in sorted(images) if i > 0]
    first = grid or (singles[0] if singles else None)
    if first is not None:
        response["attachments"] = [_attachment(view, first, urls)]
    stealth = view.visibility == "stealth"
    if grid is not None and singles:
        response["imageUx"] = [
            {"id": img.index, "url": urls.image(img.key, stealth=stealth)} for img in singles
        ]
    response["buttons"] = list(view.buttons)
    response["children"] = {child: button or "" for child, button in view.children}
    response["executeOnce"] = dict(view.executed_once)


def _attachment(view: JobView, image: ImageView, urls: Urls) -> dict[str, Any]:
    stealth = view.visibility == "stealth"
    url = urls.image(image.key, stealth=stealth)
    name = "grid" if image.index == 0 else str(image.index)
    try:
        size = image.path.stat().st_size
    except OSError:
        size = 0
    return {
        # The key, as in the link: a row id would tell how many images the server holds.
        "id": image.key,
        "filename": f"{view.id}_{name}.png",
        "url": url,
        "proxy_url": url,
        "size": size,
        "width": image.width,
        "height": image.height,
        "content_type": "image/png",
    }


def content_line(view: JobView, status: str, progress: int) -> str:
    """Midjourney's message text for an image job at ``status``/``progress``."""
    who = f"<@{view.account_name}>"
    mode = _MODE_WORDS.get(view.mode, view.mode)
    prompt = f"**{view.prompt_text}**"
    running = status in (JobStatus.CREATED, JobStatus.STARTED, JobStatus.PROGRESS)
    tail = (
        "(Waiting to start)"
        if status in (JobStatus.CREATED, JobStatus.STARTED)
        else f"({progress}%)"
    )
    if view.result == "single" and view.split_index is not None:
        return f"{prompt} - Image #{view.split_index} {who}"
    label = view.caption
    if view.result == "upscale":
        if running:
            return f"Upscaling image with {prompt} - {who} {tail}"
        return f"{prompt} - {label} by {who} ({mode})"
    by = f"{label} by {who}" if label else who
    if running:
        return f"{prompt} - {by} {tail} ({mode})"
    return f"{prompt} - {by} ({mode})"
