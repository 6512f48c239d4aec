"""post_json (webhooks): the POST goes to the address that was checked, never to a second
resolution of the name."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from safety_helpers import fake_dns

from dreamloom.safety import FetchError, FetchPolicy
from dreamloom.safety import addresses as addresses_module
from dreamloom.safety.addresses import IPAddress
from dreamloom.safety.outbound import post_json
from dreamloom.safety.policy import PRIVATE_ADDRESS

PUBLIC = FetchPolicy()


def post(url: str, handler: httpx.MockTransport, policy: FetchPolicy = PUBLIC) -> int:
    return asyncio.run(post_json(url, {"jobid": "j1"}, {"X-Event": "e"}, policy, transport=handler))


def test_the_request_goes_to_the_checked_address_with_the_name_in_host_and_sni(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"hooks.example": ["93.184.216.34"]})
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    assert post("https://hooks.example:8443/in?k=1", httpx.MockTransport(answer)) == 204
    (request,) = seen
    assert (request.method, request.url.host, request.url.port) == ("POST", "93.184.216.34", 8443)
    assert request.url.raw_path == b"/in?k=1"
    assert request.headers["host"] == "hooks.example:8443"
    assert request.headers["x-event"] == "e"
    assert request.extensions["sni_hostname"] == "hooks.example"
    assert json.loads(request.content) == {"jobid": "j1"}


def test_a_name_that_rebinds_to_a_private_address_is_never_resolved_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first answer is public, every later one private: only the first may decide.
    answers = iter(["93.184.216.34"] + ["127.0.0.1"] * 5)
    lookups: list[str] = []

    def resolve(host: str, port: int, timeout_s: float) -> list[IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address(next(answers))]

    monkeypatch.setattr(addresses_module, "resolve_host", resolve)
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(200)

    assert post("http://rebind.example/hook", httpx.MockTransport(answer)) == 200
    assert lookups == ["rebind.example"] and hosts == ["93.184.216.34"]


def test_private_addresses_are_refused_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"intranet.example": ["10.0.0.5"]})
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    for url in ("http://intranet.example/hook", "http://127.0.0.1:9/hook", "http://[::1]/hook"):
        with pytest.raises(FetchError) as info:
            post(url, transport)
        assert str(info.value) == PRIVATE_ADDRESS
    assert sent == []
    # An operator's allowance opens them.
    allowed = FetchPolicy(allow_private=True)
    assert post("http://intranet.example/hook", transport, allowed) == 200
    assert sent[0].url.host == "10.0.0.5"


def test_the_next_address_is_tried_when_one_does_not_connect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"hooks.example": ["93.184.216.34", "93.184.216.35"]})
    tried: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        if request.url.host.endswith(".34"):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(202)

    assert post("http://hooks.example/h", httpx.MockTransport(answer)) == 202
    assert tried == ["93.184.216.34", "93.184.216.35"]

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(httpx.ConnectError):
        post("http://hooks.example/h", httpx.MockTransport(down))


class _RawServer:
    """A TCP server on 127.0.0.1 that reads a request and answers with ``answer(sock)``;
    ``sent`` counts the bytes it managed to write."""

    def __init__(self, answer: Callable[[socket.socket, _RawServer], None]) -> None:
        self.sent = 0
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self._listener.accept()
            with conn:
                conn.recv(65536)
                with contextlib.suppress(OSError):
                    self._answer(conn, self)

    def close(self) -> None:
        self._listener.close()


LOCAL = FetchPolicy(allow_private=True, timeout_s=1.0)


def test_a_slow_drip_receiver_is_cut_off_at_the_total_time_limit() -> None:
    """One byte every 0.2 s never trips a per-read timeout of 1 s: the limit is the whole
    request's (a receiver once held a job's events for 92 s)."""

    def drip(conn: socket.socket, server: _RawServer) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            conn.sendall(bytes([byte]))
            server.sent += 1
            time.sleep(0.2)

    server = _RawServer(drip)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(
            asyncio.wait_for(
                post_json(f"http://127.0.0.1:{server.port}/hook", {}, {}, LOCAL), timeout=15
            )
        )
    assert time.monotonic() - started < 3.0
    server.close()


def test_an_oversized_answer_is_not_read() -> None:
    """Only the status counts: a 200 MB answer is left unread (it once took the server's
    memory from 2.2 to 3.1 GB)."""
    size = 200 * 1024 * 1024

    def flood(conn: socket.socket, server: _RawServer) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk = b"\0" * 65536
        conn.settimeout(2.0)
        while server.sent < size:
            conn.sendall(chunk)
            server.sent += len(chunk)

    server = _RawServer(flood)
    status = asyncio.run(post_json(f"http://127.0.0.1:{server.port}/hook", {}, {}, LOCAL))
    assert status == 200
    time.sleep(0.5)
    assert server.sent < 20 * 1024 * 1024, server.sent
    server.close()
