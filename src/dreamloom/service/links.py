"""The pictures a prompt links to (image prompts, --sref, --cref, --oref), read at submission.

A link to one of this server's own images (its public URL's ``/images/KEY.png``, or the web
app's ``/web/images/KEY.png``) is read from disk, if the account may see it (its own, or a
public one): users reuse their pictures as references, and the server's own address is
usually one the SSRF rules refuse. Any other link is fetched through ``dreamloom.safety``
(http(s) only, no private addresses unless allowed, size and pixel limits), concurrently.
A link that cannot be read is a 400 that names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from dreamloom.domain import Visibility
from dreamloom.safety import FetchError, FetchPolicy, fetch_image, load_upload
from dreamloom.service.errors import ServiceError
from dreamloom.service.media import Media
from dreamloom.service.reading import Reading
from dreamloom.service.views import AccountView

# The CLI's default address, which `dreamloom serve` hands out when no public URL is set.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
_OWN_IMAGE = re.compile(r"/(?:web/)?images/([A-Za-z0-9_-]{8,32})\.(?:png|webp)$")
FETCH_THREADS = 8


def link_error(url: str, reason: str) -> ServiceError:
    return ServiceError(f"Could not read the image at {url}: {reason}", 400)


class Links:
    def __init__(self, media: Media, reading: Reading) -> None:
        self._media = media
        self._reading = reading
        base = media.settings.public_url or DEFAULT_PUBLIC_URL
        self._own_base = base.rstrip("/")
        # Reads links side by side, and runs the submissions that wait for them.
        self.pool = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="dreamloom-links")
        self._reads = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="dreamloom-link")

    @property
    def fetch_policy(self) -> FetchPolicy:
        return self._media.fetch_policy

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._reads.shutdown(wait=False, cancel_futures=True)

    def read_all(self, account: AccountView, urls: Sequence[str]) -> dict[str, bytes]:
        """The bytes of every link, read side by side; the first that fails raises."""
        if not urls:
            return {}
        if len(urls) == 1:
            return {urls[0]: self.read(account, urls[0])}
        futures = {url: self._reads.submit(self.read, account, url) for url in urls}
        return {url: future.result() for url, future in futures.items()}

    def read(self, account: AccountView, url: str) -> bytes:
        key = self._own_key(url)
        if key is not None:
            return self._own_image(account, url, key)
        try:
            return fetch_image(url, self._media.fetch_policy).data
        except FetchError as err:
            raise link_error(url, str(err)) from None

    def _own_key(self, url: str) -> str | None:
        if not url.startswith(self._own_base + "/"):
            return None
        match = _OWN_IMAGE.search(url.split("?", 1)[0])
        return match.group(1) if match else None

    def _own_image(self, account: AccountView, url: str, key: str) -> bytes:
        found = self._reading.image_file(key)
        if found is None or not (
            found.owner_id == account.id or found.visibility == Visibility.PUBLIC
        ):
            raise link_error(url, "there is no such image")
        try:
            data = found.path.read_bytes()
            return load_upload(data, self._media.fetch_policy).data
        except (OSError, FetchError) as err:
            raise link_error(url, str(err)) from None
