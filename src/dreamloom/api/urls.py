"""Links to images: absolute URLs, signed for stealth images.

Links name an image by its random key (never its row id), so that nobody can list the images by
counting. Public images are readable by anyone with the link (they are what the gallery shows). A
stealth image is readable by its owner's token, or through the signed link the owner's job
JSON carries (clients fetch attachment URLs without headers, as they do Discord's): the
signature is an HMAC of the image under a key kept in the data directory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from dreamloom.config import Settings

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def public_base(settings: Settings) -> str:
    """The base of every link this server hands out (``dreamloom serve`` fills the setting
    in with the address it serves; an embedding that sets nothing gets the CLI's default)."""
    return settings.public_url or DEFAULT_PUBLIC_URL


def load_or_create_key(path: Path) -> bytes:
    """The server's URL-signing key; created (0600) on first start."""
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        key = secrets.token_bytes(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.hex())
        return key


def signer_for(settings: Settings) -> Signer:
    """The server's signer, its key kept in the data directory."""
    return Signer(load_or_create_key(settings.data_dir / "url-signing.key"))


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, subject: str) -> str:
        return hmac.new(self._key, subject.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def verify(self, subject: str, signature: str | None) -> bool:
        return signature is not None and hmac.compare_digest(self.sign(subject), signature)


def image_subject(key: str) -> str:
    return f"image:{key}"


def preview_subject(job_id: str) -> str:
    return f"preview:{job_id}"


class Urls:
    """Builds the links of one response (``base``: the server as the client reached it)."""

    def __init__(self, base: str, signer: Signer) -> None:
        self.base = base.rstrip("/")
        self._signer = signer

    def image(self, key: str, *, stealth: bool, ext: str = "png") -> str:
        """An image's link, by its random key (``Image.key``): unguessable, not a count."""
        url = f"{self.base}/images/{key}.{ext}"
        if stealth:
            url += f"?sig={self._signer.sign(image_subject(key))}"
        return url

    def preview(self, job_id: str, progress: int, *, stealth: bool) -> str:
        # The progress in the query makes each preview a new URL for caches.
        url = f"{self.base}/images/previews/{job_id}.png?p={progress}"
        if stealth:
            url += f"&sig={self._signer.sign(preview_subject(job_id))}"
        return url
