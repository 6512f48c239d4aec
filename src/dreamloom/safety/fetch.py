"""Fetching the images users link to (image prompts, --sref/--cref/--oref, describe, blend).

Each hop of a fetch goes: check the URL, resolve and check the host's addresses
(addresses.py), connect to the checked address itself while sending the original name in the
Host header and in TLS SNI (so certificates are still verified against the name), read at most
``max_bytes`` and stop as soon as the first bytes are not an image, then decode under the pixel
limit (images.py). Redirects are followed by hand so that every hop gets the same checks; an
HTTP client that follows them itself would connect wherever a ``Location`` header points.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Mapping
from typing import Any, Final

import httpx

from dreamloom.safety import addresses
from dreamloom.safety.images import SNIFF_BYTES, FetchedImage, decode_image, sniff_format
from dreamloom.safety.policy import (
    BAD_SCHEME,
    BAD_URL,
    CREDENTIALS_IN_URL,
    NOT_AN_IMAGE,
    TIMED_OUT,
    TOO_MANY_REDIRECTS,
    UNREACHABLE,
    FetchError,
    FetchPolicy,
    http_status,
    too_large,
)

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_HEADERS: Final = {
    "Accept": "image/png, image/jpeg, image/webp, image/gif",
    # Compressed transfer would let a small body inflate past the byte cap inside the HTTP
    # client; images are compressed already, so ask for the bytes as they are.
    "Accept-Encoding": "identity",
    "User-Agent": "dreamloom-image-fetcher",
}


@functools.cache
def tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~0.1 s; one context serves every fetch (contexts are safe to
    # share between connections and threads).
    return httpx.create_ssl_context()


def parse_image_url(url: str) -> httpx.URL:
    """A user's link as an httpx URL, or FetchError if it is not one we fetch."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError(BAD_URL) from exc
    if parsed.scheme not in ("http", "https"):
        raise FetchError(BAD_SCHEME)
    if not parsed.raw_host:
        raise FetchError(BAD_URL)
    if parsed.userinfo:
        # Credentials would be sent to whichever host a redirect names, and have no business
        # in a link to a public picture.
        raise FetchError(CREDENTIALS_IN_URL)
    return parsed


class _Deadline:
    """One time budget for the whole fetch, redirects included, so a server that answers
    slowly but steadily cannot hold a request handler for ``max_redirects × timeout``."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise FetchError(TIMED_OUT)
        return left


def pinned_addresses(
    url: httpx.URL, policy: FetchPolicy, timeout_s: float
) -> list[addresses.IPAddress]:
    """The checked addresses to connect to for ``url``'s host (raises FetchError)."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    return addresses.checked_addresses(host, port, policy, timeout_s)


def pinned_request(
    client: httpx.Client | httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    address: addresses.IPAddress,
    headers: Mapping[str, str],
    timeout_s: float,
    *,
    json: Any = None,
) -> httpx.Request:
    """A request for ``url`` sent to ``address`` itself, never to a new resolution of the name:
    the name goes in the Host header and in TLS SNI, so certificates are checked against the
    name the user gave, not the address."""
    return client.build_request(
        method,
        url.copy_with(host=str(address)),
        headers={**headers, "Host": url.netloc.decode("ascii")},
        json=json,
        extensions={"sni_hostname": url.raw_host.decode("ascii")},
        timeout=httpx.Timeout(timeout_s),
    )


def fetch_image(
    url: str,
    policy: FetchPolicy | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> FetchedImage:
    """Download and decode the image at ``url`` under ``policy``; raises FetchError.

    ``transport`` replaces the network (tests); the default is httpx's own.
    """
    policy = policy or FetchPolicy()
    deadline = _Deadline(policy.timeout_s)
    current = parse_image_url(url)
    for _hop in range(policy.max_redirects + 1):
        outcome = _get_once(current, policy, deadline, transport)
        if isinstance(outcome, bytes):
            return decode_image(outcome, policy, source_url=str(current))
        current = outcome
    raise FetchError(TOO_MANY_REDIRECTS)


def _get_once(
    url: httpx.URL,
    policy: FetchPolicy,
    deadline: _Deadline,
    transport: httpx.BaseTransport | None,
) -> bytes | httpx.URL:
    """One hop: the body's bytes, or the URL a redirect points to (already parsed)."""
    last_error: Exception | None = None
    for address in pinned_addresses(url, policy, deadline.remaining()):
        # A new client per connection: httpx pools connections by address, and a TLS connection
        # verified for one name must not carry a request for another name on the same IP.
        with httpx.Client(
            transport=transport, verify=tls_context(), trust_env=False, follow_redirects=False
        ) as client:
            request = pinned_request(client, "GET", url, address, _HEADERS, deadline.remaining())
            try:
                response = client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last_error = exc  # the next address of the same host may answer
                continue
            except httpx.TimeoutException as exc:
                raise FetchError(TIMED_OUT) from exc
            except httpx.HTTPError as exc:
                raise FetchError(UNREACHABLE) from exc
            try:
                return _read_response(url, response, policy, deadline)
            except httpx.TimeoutException as exc:
                raise FetchError(TIMED_OUT) from exc
            except httpx.HTTPError as exc:
                raise FetchError(UNREACHABLE) from exc
            finally:
                response.close()
    raise FetchError(UNREACHABLE) from last_error


def _read_response(
    url: httpx.URL, response: httpx.Response, policy: FetchPolicy, deadline: _Deadline
) -> bytes | httpx.URL:
    if response.status_code in _REDIRECTS and "location" in response.headers:
        try:
            target = url.join(response.headers["location"])
        except httpx.InvalidURL as exc:
            raise FetchError(BAD_URL) from exc
        return parse_image_url(str(target))
    if not 200 <= response.status_code < 300:
        raise FetchError(http_status(response.status_code))
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchError(too_large(policy))
    body = bytearray()
    sniffed = False
    # Raw bytes (no content decoding) are counted, and the count and the deadline are checked
    # on every read from the network (no chunk size: httpx would buffer up to it first),
    # because Content-Length may be absent or lie and a server may send one byte at a time.
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > policy.max_bytes:
            raise FetchError(too_large(policy))
        if not sniffed and len(body) >= SNIFF_BYTES:
            # Stop an HTML page or a video after its first bytes, not after 10 MB of it.
            if sniff_format(bytes(body[:SNIFF_BYTES])) is None:
                raise FetchError(NOT_AN_IMAGE)
            sniffed = True
        deadline.remaining()
    return bytes(body)
