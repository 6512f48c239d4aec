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
from dreamloom.safety.policy import FetchPolicy


async def post_json(
    url: str,
    body: Any,
    headers: dict[str, str],
    policy: FetchPolicy,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """POST ``body`` as JSON to ``url`` and return the answer's status code.

    Raises FetchError when the URL or its addresses are refused, and httpx.HTTPError when no
    address answers. ``transport`` replaces the network (tests).
    """
    parsed = parse_image_url(url)
    pinned = await asyncio.to_thread(pinned_addresses, parsed, policy, policy.timeout_s)
    last_error: httpx.HTTPError | None = None
    for address in pinned:
        # A client per connection: connections are pooled by address, and one verified for
        # one name must not carry a request for another name on the same address.
        async with httpx.AsyncClient(
            transport=transport, verify=tls_context(), trust_env=False, follow_redirects=False
        ) as client:
            request = pinned_request(
                client, "POST", parsed, address, headers, policy.timeout_s, json=body
            )
            try:
                response = await client.send(request)
            except httpx.ConnectError as exc:
                last_error = exc  # the next address of the same host may answer
                continue
            return response.status_code
    assert last_error is not None  # checked_addresses returns at least one address
    raise last_error
