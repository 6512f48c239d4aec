"""Address rules and name resolution, without any HTTP."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from dreamloom.safety import FetchError, FetchPolicy, fetch_image
from dreamloom.safety.addresses import checked_addresses, is_public, resolve_host
from dreamloom.safety.policy import PRIVATE_ADDRESS, TIMED_OUT, UNREACHABLE, UNRESOLVABLE


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("100.64.0.1", False),
        ("192.0.2.1", False),  # documentation range
        ("::1", False),
        ("::ffff:8.8.8.8", True),  # an IPv4-mapped address is judged as its IPv4 address
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:808:808::1", True),  # 6to4 around a public address
        ("2002:a00:1::1", False),  # 6to4 around 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("ff02::1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_localhost_resolves_through_the_system_resolver() -> None:
    found = resolve_host("localhost", 80, timeout_s=5.0)
    assert any(a.is_loopback for a in found)
    with pytest.raises(FetchError, match=PRIVATE_ADDRESS):
        checked_addresses("localhost", 80, FetchPolicy(), timeout_s=5.0)
    assert checked_addresses("localhost", 80, FetchPolicy(allow_private=True), timeout_s=5.0)


def test_a_hanging_resolver_is_abandoned(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object, **kwargs: object) -> list[object]:
        time.sleep(1.0)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    with pytest.raises(FetchError, match=TIMED_OUT):
        resolve_host("slow.example", 80, timeout_s=0.1)
    assert time.monotonic() - started < 0.8


def test_resolver_failures_read_as_unknown_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with pytest.raises(FetchError, match=UNRESOLVABLE):
        fetch_image("https://no-such-host.example/cat.png")


def test_closed_port_reads_as_unreachable() -> None:
    # Port 9 (discard) on loopback: nothing listens there in a test sandbox.
    with pytest.raises(FetchError, match=UNREACHABLE):
        fetch_image("http://127.0.0.1:9/cat.png", FetchPolicy(allow_private=True))
