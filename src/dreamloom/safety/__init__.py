"""Safety: fetching user-supplied images without exposing the server, and moderation.

- ``fetch_image`` / ``load_upload``: image URLs and uploads, checked (addresses, size, format,
  pixels) and decoded; refusals raise ``FetchError`` whose text is for the user.
- ``PromptModerator`` / ``ImageModerator``: offline prompt term list and NSFW image classifier,
  returning a ``Verdict``.
- ``StrikePolicy``: when repeated moderation hits time an account out or block it.

Nothing here touches the store or HTTP routes; the service decides what to do with a verdict.
"""

from dreamloom.safety.fetch import fetch_image, parse_image_url
from dreamloom.safety.images import FetchedImage, load_upload, sniff_format
from dreamloom.safety.moderation import (
    IMAGE_FILTERED,
    PROMPT_FLAGGED,
    ImageModerator,
    PromptModerator,
    Verdict,
)
from dreamloom.safety.policy import FetchError, FetchPolicy
from dreamloom.safety.strikes import StrikePolicy, account_blocked_message, timeout_message
from dreamloom.safety.terms import Rule, default_rules, load_rules, parse_terms

__all__ = [
    "IMAGE_FILTERED",
    "PROMPT_FLAGGED",
    "FetchError",
    "FetchPolicy",
    "FetchedImage",
    "ImageModerator",
    "PromptModerator",
    "Rule",
    "StrikePolicy",
    "Verdict",
    "account_blocked_message",
    "default_rules",
    "fetch_image",
    "load_rules",
    "load_upload",
    "parse_image_url",
    "parse_terms",
    "sniff_format",
    "timeout_message",
]
