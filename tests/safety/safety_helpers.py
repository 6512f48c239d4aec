"""Helpers for the safety tests: image bytes, and the state of a local HTTP server."""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest
from PIL import Image

from dreamloom.safety import FetchError
from dreamloom.safety import addresses as addresses_module
from dreamloom.safety.addresses import IPAddress
from dreamloom.safety.policy import UNRESOLVABLE

Handler = Callable[[BaseHTTPRequestHandler], None]


def png_bytes(size: tuple[int, int] = (16, 12), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 120, 40) if mode == "RGB" else None).save(buffer, "PNG")
    return buffer.getvalue()


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


@dataclass
class LocalServer:
    port: int
    routes: dict[str, Handler] = field(default_factory=dict)
    hosts_seen: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def serve_bytes(self, path: str, body: bytes, content_type: str = "image/png") -> None:
        def handler(request: BaseHTTPRequestHandler) -> None:
            request.send_response(200)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)

        self.routes[path] = handler

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        def handler(request: BaseHTTPRequestHandler) -> None:
            request.send_response(status)
            request.send_header("Location", location)
            request.send_header("Content-Length", "0")
            request.end_headers()

        self.routes[path] = handler


def fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Replace name resolution with ``table``; returns the list of names looked up."""
    looked_up: list[str] = []

    def resolve(host: str, port: int, timeout_s: float) -> list[IPAddress]:
        looked_up.append(host)
        if host not in table:
            raise FetchError(UNRESOLVABLE)
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(addresses_module, "resolve_host", resolve)
    return looked_up
