"""What a finished run leaves behind, as the job stores it: text results and disk failures.

Images go to files (``store.files``); a text result (describe's prompts) goes into the job's
stored response in the shape the useapi v3 reference shows, and so do the engine's notes of a
fallback. A run whose images cannot be written fails with a reason the user can act on, never
an internal error.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from typing import Any, Final

_NUMBERS: Final = ("1️⃣", "2️⃣", "3️⃣", "4️⃣")
# Where a job's response keeps the engine's notes (a fallback such as Lanczos standing in for
# Real-ESRGAN), a list of sentences for the user; the v3 job JSON shows it as
# ``response.notes``, an addition clients of the reference ignore.
NOTES_KEY: Final = "notes"
# Where the disk is the problem, the user is told so: the job may succeed later.
DISK_FULL_ERROR: Final = "Not enough disk space to save the images"
_DISK_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
# A describe interrupted by the upgrade to queued describes has no stored image to run from.
LEGACY_DESCRIBE_ERROR: Final = (
    "Describe was interrupted by a restart; please submit the image again"
)


def describe_response(prompts: Sequence[str]) -> dict[str, Any]:
    """The stored response of a completed describe: numbered prompts as Discord shows them."""
    text = "\n\n".join(f"{n} {p}" for n, p in zip(_NUMBERS, prompts, strict=False))
    return {"content": text, "embeds": [{"description": text}], "prompts": list(prompts)}


def with_notes(response: Mapping[str, Any], notes: Sequence[str]) -> dict[str, Any]:
    """The stored response with the engine's notes (what it did instead of what was asked)
    under ``NOTES_KEY``: clients show the list as it is."""
    return {**response, NOTES_KEY: list(notes)}


def save_error(exc: OSError) -> str:
    """The job's error when its images could not be written."""
    if exc.errno in _DISK_FULL:
        return DISK_FULL_ERROR
    return f"Could not save the images: {exc.strerror or exc}"
