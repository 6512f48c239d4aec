"""POSTing to URLs that users give (webhooks), under the same address rules as image fetches.

The host's addresses are resolved and checked once, and the request goes to a checked address
itself, with the original name in the Host header and in TLS SNI. Checking a name and then
letting the HTTP client resolve it again would let a DNS server answer a public address to
the check and a private one to the connection (DNS rebinding). Redirects are not followed: a
webhook's answer is only its status.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from dreamloom.safety.fetch import parse_image_url, pinned_addresses, pinned_request, tls_context
from dreamloom.safety.policy import FetchError, FetchPolicy, PrivateAddressError


def refuses_target(url: str, policy: FetchPolicy) -> bool:
    """Whether ``url`` may never be POSTed to: it is no plain http(s) link, or its host is
    (or resolves to) a private, loopback or link-local address the policy does not allow.
    A name that does not resolve now passes: it is checked again at every attempt."""
    try:
        pinned_addresses(parse_image_url(url), policy, policy.timeout_s)
    except PrivateAddressError:
        return True
    except FetchError:
        return not url.lower().startswith(("http:", "https:"))
    return False


async def post_json(
    url: str,
    body: Any,
    headers: dict[str, str],
    policy: FetchPolicy,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """POST ``body`` as JSON to ``url`` and return the answer's status code.

    ``policy.timeout_s`` bounds the whole request, resolving the name included: a receiver
    that sends its answer a byte at a time cannot hold a delivery longer (httpx's timeouts
    are per read). Only the status line and headers are read; the body is never read, so an
    answer of any size costs no memory.

    Raises FetchError when the URL or its addresses are refused, TimeoutError past the time
    limit, and httpx.HTTPError when no address answers. ``transport`` replaces the network
    (tests).
    """
    parsed = parse_image_url(url)
    async with asyncio.timeout(policy.timeout_s):
        pinned = await asyncio.to_thread(pinned_addresses, parsed, policy, policy.timeout_s)
        last_error: httpx.HTTPError | None = None
        for address in pinned:
            # A client per connection: connections are pooled by address, and one verified
            # for one name must not carry a request for another name on the same address.
            async with httpx.AsyncClient(
                transport=transport, verify=tls_context(), trust_env=False, follow_redirects=False
            ) as client:
                request = pinned_request(
                    client, "POST", parsed, address, headers, policy.timeout_s, json=body
                )
                try:
                    response = await client.send(request, stream=True)
                except httpx.ConnectError as exc:
                    last_error = exc  # the next address of the same host may answer
                    continue
                await response.aclose()  # unread: closes the connection
                return response.status_code
        assert last_error is not None  # checked_addresses returns at least one address
        raise last_error
