"""Which network addresses a user's URL may make the server connect to.

A user who can make the server fetch any URL can otherwise reach what only the server can:
the cloud metadata endpoint, the database, the admin port on localhost. So every host is
resolved here, every address it resolves to is checked, and the caller connects to exactly the
address that was checked (see fetch.py), so a DNS answer that changes between the check and
the connection (DNS rebinding) has nothing to exploit.
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from dreamloom.safety.policy import (
    TIMED_OUT,
    UNRESOLVABLE,
    FetchError,
    FetchPolicy,
    PrivateAddressError,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses that an IPv6 address carries and that a router may deliver to.

    ``::ffff:127.0.0.1`` reaches 127.0.0.1 on a dual-stack socket, and 6to4, Teredo, NAT64 and
    the old IPv4-compatible form all embed an IPv4 destination too; each must pass the IPv4
    rules, or the IPv6 spelling would be a way around them.
    """
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet (what ``is_global`` means, without
    multicast or reserved space, and with embedded IPv4 addresses checked too)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # Judged as the IPv4 address it is; Python versions disagree on is_global for these.
        return is_public(address.ipv4_mapped)
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return all(is_public(inner) for inner in embedded_ipv4(address))
    return True


def _never_valid(address: IPAddress) -> bool:
    # No image server can listen on these; "0.0.0.0" even means "this host" to Linux, so they
    # stay refused when the operator allows private networks.
    if address.is_unspecified or address.is_multicast:
        return True
    if isinstance(address, ipaddress.IPv6Address):
        return any(_never_valid(inner) for inner in embedded_ipv4(address))
    return False


def resolve_host(host: str, port: int, timeout_s: float) -> list[IPAddress]:
    """All addresses ``host`` resolves to, in the resolver's order of preference.

    getaddrinfo has no timeout of its own, so it runs on a helper thread that is abandoned
    (not joined) if it overruns; the system resolver ends it within its own retry limits.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dreamloom-resolve")
    try:
        future = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        infos = future.result(timeout=timeout_s)
    except FutureTimeout as exc:
        raise FetchError(TIMED_OUT) from exc
    except (OSError, UnicodeError) as exc:
        raise FetchError(UNRESOLVABLE) from exc
    finally:
        pool.shutdown(wait=False)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # sockaddr[0] may carry an IPv6 zone ("fe80::1%eth0"), which ip_address accepts.
        address = ipaddress.ip_address(str(sockaddr[0]))
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(UNRESOLVABLE)
    return addresses


def checked_addresses(
    host: str, port: int, policy: FetchPolicy, timeout_s: float
) -> list[IPAddress]:
    """The addresses to connect to for ``host``, every one of them allowed by ``policy``.

    If any address the name resolves to is refused, the whole host is refused: an attacker's
    DNS could list one public and one private address and hope the client tries the second.
    """
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = resolve_host(host, port, timeout_s)
    trusted = policy.host_is_allowed(host)
    for address in addresses:
        if trusted:
            continue
        if _never_valid(address) or not (policy.allow_private or is_public(address)):
            raise PrivateAddressError
    return addresses
