"""Safety: fetching user-supplied images without exposing the server.

- ``fetch_image`` / ``load_upload``: image URLs and uploads, checked (addresses, size, format,
  pixels) and decoded; refusals raise ``FetchError`` whose text is for the user.
"""

from dreamloom.safety.fetch import fetch_image, parse_image_url
from dreamloom.safety.images import FetchedImage, load_upload, sniff_format
from dreamloom.safety.policy import FetchError, FetchPolicy

__all__ = [
    "FetchError",
    "FetchPolicy",
    "FetchedImage",
    "fetch_image",
    "load_upload",
    "parse_image_url",
    "sniff_format",
]
