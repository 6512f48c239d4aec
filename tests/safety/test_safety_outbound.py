"""post_json (webhooks): the POST goes to the address that was checked, never to a second
resolution of the name."""

from __future__ import annotations

import asyncio
import ipaddress
import json

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
