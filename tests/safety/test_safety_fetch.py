"""fetch_image against real HTTP servers on 127.0.0.1 (reachable only when the policy allows)."""

from __future__ import annotations

import struct
import time
import zlib
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from PIL import Image
from safety_helpers import LocalServer, fake_dns, png_bytes

from dreamloom.safety import FetchError, FetchPolicy, fetch_image
from dreamloom.safety.policy import (
    BAD_SCHEME,
    BAD_URL,
    CREDENTIALS_IN_URL,
    NOT_AN_IMAGE,
    PRIVATE_ADDRESS,
    TIMED_OUT,
    TOO_MANY_REDIRECTS,
)

LOCAL = FetchPolicy(allow_private=True)


def refused(url: str, policy: FetchPolicy | None = None) -> str:
    with pytest.raises(FetchError) as info:
        fetch_image(url, policy)
    return str(info.value)


# --- reaching the local server -------------------------------------------------------------


def test_local_server_is_refused_by_default(server: LocalServer) -> None:
    server.serve_bytes("/cat.png", png_bytes())
    assert refused(server.url("/cat.png")) == PRIVATE_ADDRESS
    assert refused(server.url("/cat.png", host="localhost")) == PRIVATE_ADDRESS
    assert server.hosts_seen == []  # refused before any connection


def test_local_server_is_fetched_when_private_addresses_are_allowed(server: LocalServer) -> None:
    body = png_bytes((16, 12))
    server.serve_bytes("/cat.png", body)
    fetched = fetch_image(server.url("/cat.png"), LOCAL)
    assert fetched.image.size == (16, 12)
    assert fetched.image.mode == "RGB"
    assert fetched.data == body
    assert fetched.format == "PNG"
    assert fetched.mime_type == "image/png"
    assert fetched.source_url == server.url("/cat.png")


def test_allowed_hosts_open_one_host_only(server: LocalServer) -> None:
    server.serve_bytes("/cat.png", png_bytes())
    policy = FetchPolicy(allowed_hosts=frozenset({"LocalHost."}))
    # "localhost" may resolve to ::1 first, where nothing listens: the next address is tried.
    assert fetch_image(server.url("/cat.png", host="localhost"), policy).format == "PNG"
    assert refused(server.url("/cat.png"), policy) == PRIVATE_ADDRESS


def test_content_type_and_extension_are_ignored(server: LocalServer) -> None:
    server.serve_bytes("/page.html", png_bytes(), content_type="text/html")
    assert fetch_image(server.url("/page.html"), LOCAL).format == "PNG"
    server.serve_bytes("/fake.png", b"<html><body>not a picture</body></html>")
    assert refused(server.url("/fake.png"), LOCAL) == NOT_AN_IMAGE


def test_http_errors_are_reported_with_their_status(server: LocalServer) -> None:
    assert refused(server.url("/missing.png"), LOCAL) == "Image URL returned HTTP 404"


# --- redirects -----------------------------------------------------------------------------


def test_relative_redirects_are_followed_and_reported(server: LocalServer) -> None:
    server.serve_bytes("/final.png", png_bytes())
    server.redirect("/start", "/final.png", status=301)
    fetched = fetch_image(server.url("/start"), LOCAL)
    assert fetched.source_url == server.url("/final.png")


def test_redirect_to_a_private_address_is_refused(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A trusted name on the loopback address redirects to the raw address, which is not trusted.
    fake_dns(monkeypatch, {"cdn.example": ["127.0.0.1"]})
    server.serve_bytes("/secret.png", png_bytes())
    server.redirect("/start", server.url("/secret.png"))
    policy = FetchPolicy(allowed_hosts=frozenset({"cdn.example"}))
    assert refused(server.url("/start", host="cdn.example"), policy) == PRIVATE_ADDRESS
    assert server.hosts_seen == [f"cdn.example:{server.port}"]


def test_redirect_to_a_name_with_a_private_address_is_refused_before_connecting(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up = fake_dns(monkeypatch, {"cdn.example": ["127.0.0.1"], "db.internal": ["10.0.0.5"]})
    server.redirect("/start", "http://db.internal/admin.png", status=307)
    policy = FetchPolicy(allowed_hosts=frozenset({"cdn.example"}))
    assert refused(server.url("/start", host="cdn.example"), policy) == PRIVATE_ADDRESS
    assert looked_up == ["cdn.example", "db.internal"]


def test_redirect_to_another_scheme_is_refused(server: LocalServer) -> None:
    server.redirect("/start", "file:///etc/passwd")
    assert refused(server.url("/start"), LOCAL) == BAD_SCHEME


def test_redirect_chains_are_bounded(server: LocalServer) -> None:
    server.redirect("/loop", "/loop")
    policy = FetchPolicy(allow_private=True, max_redirects=2)
    assert refused(server.url("/loop"), policy) == TOO_MANY_REDIRECTS
    assert len(server.hosts_seen) == 3  # the first request and two redirects


# --- sizes ---------------------------------------------------------------------------------


def test_body_over_the_cap_is_refused_mid_stream_without_content_length(
    server: LocalServer,
) -> None:
    sent = [0]

    def endless_png(request: BaseHTTPRequestHandler) -> None:
        # HTTP/1.0 without Content-Length: the body ends when the connection closes.
        request.send_response(200)
        request.end_headers()
        request.wfile.write(b"\x89PNG\r\n\x1a\n")
        chunk = b"\0" * 65536
        for _ in range(800):  # at most ~50 MB, and the client hangs up long before
            request.wfile.write(chunk)
            sent[0] += len(chunk)

    server.routes["/huge.png"] = endless_png
    policy = FetchPolicy(allow_private=True, max_bytes=256 * 1024)
    assert refused(server.url("/huge.png"), policy) == "Image is larger than 262,144 bytes"
    assert sent[0] < 40 * 1024 * 1024


def test_declared_length_over_the_cap_is_refused_before_reading(server: LocalServer) -> None:
    def lying(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Length", str(11 * 1024 * 1024))
        request.end_headers()
        request.wfile.write(b"\x89PNG\r\n\x1a\n")

    server.routes["/big.png"] = lying
    assert refused(server.url("/big.png"), LOCAL) == "Image is larger than 10 MB"


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_from_a_url_is_refused(server: LocalServer) -> None:
    server.serve_bytes("/bomb.png", _png_declaring(8000, 6000))
    message = refused(server.url("/bomb.png"), LOCAL)
    assert message == ("Image is too large: 8000×6000 pixels (at most 25,000,000 pixels in total)")


# --- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:9/a.png",
        "http://[::ffff:127.0.0.1]:9/a.png",
        "http://[::ffff:7f00:1]/a.png",
        "http://[::ffff:10.0.0.1]/a.png",
        "http://[2002:7f00:1::1]/a.png",  # 6to4 wrapping 127.0.0.1
        "http://[64:ff9b::a00:1]/a.png",  # NAT64 wrapping 10.0.0.1
        "http://[fe80::1]/a.png",
        "http://[fc00::1]/a.png",
        "http://[::]/a.png",
        "http://0.0.0.0:9/a.png",
        "http://10.1.2.3/a.png",
        "http://172.16.0.1/a.png",
        "http://192.168.1.1/a.png",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/a.png",
        "http://224.0.0.1/a.png",
        "http://255.255.255.255/a.png",
        "http://2130706433/a.png",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/a.png",  # 127.0.0.1 in the resolver's hexadecimal shorthand
    ],
)
def test_non_public_addresses_are_refused(url: str) -> None:
    assert refused(url) == PRIVATE_ADDRESS


@pytest.mark.parametrize("url", ["http://0.0.0.0:9/a.png", "http://[ff02::1]/a.png"])
def test_unspecified_and_multicast_stay_refused_with_private_allowed(url: str) -> None:
    assert refused(url, LOCAL) == PRIVATE_ADDRESS


def test_name_resolving_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(
        monkeypatch,
        {"evil.example": ["192.168.0.10"], "mixed.example": ["93.184.215.14", "127.0.0.1"]},
    )
    assert refused("https://evil.example/cat.png") == PRIVATE_ADDRESS
    # One private address among public ones is enough to refuse the host.
    assert refused("https://mixed.example/cat.png") == PRIVATE_ADDRESS


def test_connection_goes_to_the_checked_address(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "pinned.example" exists only in the fake resolver: the request can only succeed if the
    # client connects to the address that was checked instead of resolving the name again.
    looked_up = fake_dns(monkeypatch, {"pinned.example": ["127.0.0.1"]})
    server.serve_bytes("/cat.png", png_bytes())
    policy = FetchPolicy(allowed_hosts=frozenset({"pinned.example"}))
    fetched = fetch_image(server.url("/cat.png", host="pinned.example"), policy)
    assert fetched.format == "PNG"
    assert looked_up == ["pinned.example"]
    assert server.hosts_seen == [f"pinned.example:{server.port}"]


def test_https_keeps_the_name_for_host_header_and_sni(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"images.example": ["93.184.215.14"]})
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(png_bytes()))

    fetched = fetch_image("https://images.example/cat.png", transport=httpx.MockTransport(answer))
    assert fetched.source_url == "https://images.example/cat.png"
    (request,) = seen
    assert request.url.host == "93.184.215.14"
    assert request.headers["host"] == "images.example"
    assert request.extensions["sni_hostname"] == "images.example"
    assert request.headers["accept-encoding"] == "identity"


# --- the URL itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.png", BAD_SCHEME),
        ("file:///etc/passwd", BAD_SCHEME),
        ("javascript:alert(1)", BAD_SCHEME),
        ("cat.png", BAD_SCHEME),
        ("http:///a.png", BAD_URL),
        ("http://user:secret@example.com/a.png", CREDENTIALS_IN_URL),
    ],
)
def test_urls_that_are_not_fetched(url: str, message: str) -> None:
    assert refused(url) == message


# --- time ----------------------------------------------------------------------------------


def test_a_slow_drip_is_cut_off_by_the_total_deadline(server: LocalServer) -> None:
    def drip(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.end_headers()
        request.wfile.write(b"\x89PNG\r\n\x1a\n\0\0\0\0")
        request.wfile.flush()
        for _ in range(40):  # at most 4 s, long after the client gave up
            time.sleep(0.1)
            request.wfile.write(b"\0")
            request.wfile.flush()

    server.routes["/slow.png"] = drip
    policy = FetchPolicy(allow_private=True, timeout_s=0.5)
    started = time.monotonic()
    assert refused(server.url("/slow.png"), policy) == TIMED_OUT
    assert time.monotonic() - started < 2.0


def test_pixel_limit_is_the_policy_s_not_pillow_s_global(server: LocalServer) -> None:
    before = Image.MAX_IMAGE_PIXELS
    server.serve_bytes("/cat.png", png_bytes((16, 12)))
    tight = FetchPolicy(allow_private=True, max_pixels=100)
    assert refused(server.url("/cat.png"), tight).startswith("Image is too large: 16×12 pixels")
    assert fetch_image(server.url("/cat.png"), LOCAL).image.size == (16, 12)
    assert before == Image.MAX_IMAGE_PIXELS
