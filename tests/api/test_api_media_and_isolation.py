"""Describe, blend, image safety (URLs, uploads), ownership, stealth, WebP."""

from __future__ import annotations

import io
import zlib

import httpx
import pytest
from api_helpers import V3, Client, Files, Server, png
from PIL import Image


@pytest.fixture(scope="module")
def olga(server: Server) -> Client:
    return server.user("olga-media", plan="pro")


def test_describe_an_upload_and_a_url(olga: Client, files: Files) -> None:
    upload = olga.post(
        "/jobs/describe",
        files={"imageBlob": ("red.png", png((96, 64), (220, 30, 30)), "image/png")},
        data={"stream": "false"},
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["request"]["describeUrl"] == "blob"
    done = olga.wait(upload.json()["jobid"])
    assert done["status"] == "completed", done
    prompts = done["response"]["prompts"]
    assert len(prompts) == 4 and all(p.endswith("--ar 3:2") for p in prompts)
    assert done["response"]["embeds"][0]["description"].startswith("1️⃣ ")
    files.content["/blue.png"] = (png((64, 64), (20, 40, 220)), "image/png")
    by_url = olga.submit("/jobs/describe", {"imageUrl": files.url("/blue.png")})
    assert olga.wait(by_url["jobid"])["response"]["prompts"][0].endswith("--ar 1:1")


def test_describe_refuses_bad_images(olga: Client, files: Files) -> None:
    files.content["/text.png"] = (b"not an image at all", "image/png")
    for body in (
        {},
        {"imageUrl": files.url("/blue.png", host="127.0.0.1")},  # loopback: refused
        {"imageUrl": "file:///etc/passwd"},
        {"imageUrl": files.url("/text.png")},
    ):
        response = olga.post("/jobs/describe", json={**body, "stream": False})
        assert response.status_code == 400, (body, response.text)
    big = olga.post(
        "/jobs/describe",
        files={"imageBlob": ("big.png", b"\x89PNG" + b"0" * (10 * 1024 * 1024 + 10), "image/png")},
        data={"stream": "false"},
    )
    assert big.status_code == 400 and "10 MB" in big.json()["error"]
    bomb = olga.post(
        "/jobs/describe",
        files={"imageBlob": ("bomb.png", _bomb_png(), "image/png")},
        data={"stream": "false"},
    )
    assert bomb.status_code == 400


def _bomb_png() -> bytes:
    """A small PNG whose header declares 20000 x 20000 pixels."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 60001 * 8)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_blend_of_two_uploads_and_a_url(olga: Client, files: Files) -> None:
    files.content["/green.png"] = (png((80, 80), (30, 200, 40)), "image/png")
    response = olga.post(
        "/jobs/blend",
        files={
            "imageBlob_1": ("a.png", png((64, 64), (250, 250, 0)), "image/png"),
            "imageBlob_2": ("b.png", png((64, 96), (0, 0, 250)), "image/png"),
        },
        data={
            "imageUrl_3": files.url("/green.png"),
            "blendDimensions": "Portrait",
            "stream": "false",
        },
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["verb"] == "blend" and job["request"]["blendDimensions"] == "Portrait"
    assert job["request"]["blendUrls"][:2] == ["blob_0", "blob_1"]
    done = olga.wait(job["jobid"])
    assert done["status"] == "completed", done
    cell = olga.image(done["response"]["imageUx"][0]["url"]).size
    assert cell[0] < cell[1]  # portrait
    one = olga.post("/jobs/blend", json={"imageUrl_1": files.url("/green.png"), "stream": False})
    assert one.status_code == 400
    assert one.json() == {"error": "At least 2 images are required for blend"}


def test_other_users_never_see_or_touch_a_job(server: Server, olga: Client) -> None:
    job = olga.imagine("a private diary --seed 5")
    paul = server.user("paul-other", plan="pro")
    assert paul.get(f"/jobs/{job['jobid']}").status_code == 404
    assert paul.http.delete(f"{V3}/jobs/{job['jobid']}").status_code == 404
    pressed = paul.post(
        "/jobs/button", json={"jobId": job["jobid"], "button": "U1", "stream": False}
    )
    assert pressed.status_code == 404
    seed = paul.post("/jobs/seed", json={"jobId": job["jobid"], "stream": False})
    assert seed.status_code == 404
    # A public image is a public link.
    url = job["response"]["attachments"][0]["url"]
    assert httpx.get(url).status_code == 200


def test_stealth_images_only_for_their_owner(server: Server, olga: Client) -> None:
    job = olga.imagine("a secret garden --stealth --seed 7")
    url = job["response"]["attachments"][0]["url"]
    assert "sig=" in url
    bare = url.split("?")[0]
    assert httpx.get(bare).status_code == 404
    assert httpx.get(bare + "?sig=" + "0" * 32).status_code == 404
    assert httpx.get(url).status_code == 200  # the owner's signed link
    assert olga.http.get(bare).status_code == 200  # the owner's token
    quinn = server.user("quinn-stealth", plan="pro")
    assert quinn.http.get(url).status_code == 404  # another token, even with the link
    stealth_plan = server.user("rita-standard", plan="standard")
    refused = stealth_plan.post("/jobs/imagine", json={"prompt": "x --stealth", "stream": False})
    assert refused.status_code == 400


def test_images_as_webp(olga: Client) -> None:
    job = olga.imagine("a webp test --seed 1")
    url = job["response"]["attachments"][0]["url"].replace(".png", ".webp")
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    assert response.content[:4] == b"RIFF" and response.content[8:12] == b"WEBP"
    assert Image.open(io.BytesIO(response.content)).size == (128, 128)
    assert httpx.get(url.replace(".webp", ".gif")).status_code == 404
