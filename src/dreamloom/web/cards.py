"""A job as the web app's feed shows it: one JSON shape for the first render and every update."""

from __future__ import annotations

from typing import Any

from dreamloom.service import JobView
from dreamloom.service.library import LibraryItem

GRID_INDEX = 0  # a grid job's image 0 is the grid, 1-4 its pictures


def image_url(key: str) -> str:
    return f"/web/images/{key}.png"


def preview_url(job_id: str, seq: int = 0) -> str:
    return f"/web/previews/{job_id}.png?v={seq}"


def item_card(item: LibraryItem) -> dict[str, Any]:
    return card(item.job, likes=item.likes, liked=item.liked)


def card(job: JobView, *, likes: int = 0, liked: bool = False) -> dict[str, Any]:
    images = [
        {"index": i.index, "url": image_url(i.key), "width": i.width, "height": i.height}
        for i in sorted(job.images, key=lambda i: i.index)
    ]
    main = next((i for i in images if i["index"] == GRID_INDEX), images[0] if images else None)
    return {
        "id": job.id,
        "status": job.status,
        "terminal": job.terminal,
        "progress": job.progress,
        "prompt": job.prompt_text,
        "seed": job.seed,
        "error": job.error,
        "caption": job.caption,
        "result": job.result,
        "mode": job.mode,
        "visibility": job.visibility,
        "created": job.created.isoformat() if job.created else None,
        "image": main,
        "pictures": [i for i in images if i is not main],
        "buttons": list(job.buttons) if job.terminal else [],
        "preview": preview_url(job.id) if job.preview_path else None,
        "notes": list(job.notes),
        "likes": likes,
        "liked": liked,
        "hidden": job.hidden,
        "owner": job.account_name,
    }
