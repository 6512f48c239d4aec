"""Edges of the HTTP face: text that is not Unicode, bodies too large or too deep, ids out of
range, unguessable image links, previews cleaned up, and the reference's 201 and channel
limits. Each refusal is a 4xx with a message, before anything is admitted; never a 500."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from api_helpers import ADMIN, V3, Client, Server

# Settings.max_body_bytes: the largest blend (5 uploads of 10 MB) with room for the form.
LIMIT = 52 * 1024 * 1024


@pytest.fixture(scope="module")
def uma(server: Server) -> Client:
    return server.user("uma-edges", plan="pro")


def _raw(server: Server, head: bytes, body_chunks: list[bytes] | None = None) -> bytes:
    """Send a hand-made request and return the start of the answer (sending stops quietly
    when the server closes the connection, as it may once it has answered)."""
    address = urlsplit(server.base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in body_chunks or []:
            try:
                sock.sendall(chunk)
            except OSError:
                break
        answer = b""
        try:
            while not _complete(answer):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def _complete(answer: bytes) -> bool:
    """Whether the answer's head and the body its Content-Length announces have arrived (the
    body may come in a later packet than the head)."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is None or len(body) >= int(length.group(1))


def _status(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    assert match, answer[:200]
    return int(match.group(1))


def _jobs_of(server: Server, name: str) -> int:
    with server.db() as db:
        row = db.execute(
            "select count(*) from jobs join accounts on accounts.id = jobs.account_id"
            " where accounts.name = ?",
            (name,),
        ).fetchone()
    return int(row[0])


def test_lone_surrogates_are_refused_before_admission(uma: Client, server: Server) -> None:
    for body in (
        b'{"prompt": "\\ud800 a cat", "stream": false}',
        b'{"prompt": "a cat", "replyRef": "\\udfff", "stream": false}',
        b'{"prompt": "a cat", "\\ud800": 1, "stream": false}',
    ):
        response = uma.http.post(
            f"{V3}/jobs/imagine", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert "Unicode" in response.json()["error"]
    form = uma.http.post(
        f"{V3}/jobs/imagine",
        content=b"prompt=%ED%A0%80+a+cat&stream=false",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    # Form text is decoded with replacement characters: no surrogate gets through.
    assert form.status_code == 201, form.text
    assert uma.wait(form.json()["jobid"])["status"] == "completed"
    admin = httpx.post(
        f"{server.base}/native/users",
        content=b'{"name": "x\\ud800"}',
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN}"},
    )
    assert admin.status_code == 400, admin.text
    assert _jobs_of(server, "uma-edges") == 1  # only the form's


def test_bodies_over_the_limit_are_refused_before_reading_or_auth(server: Server) -> None:
    # Declared: answered at once, with no token and without sending the body.
    head = (
        f"POST {V3}/jobs/imagine HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {300 * 1024 * 1024}\r\n\r\n"
    ).encode()
    answer = _raw(server, head)
    assert _status(answer) == 413, answer[:300]
    assert b"Request body is larger than" in answer
    # Chunked: counted while it streams.
    head = (
        f"POST {V3}/jobs/imagine HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"%x\r\n%s\r\n" % (1024 * 1024, b" " * (1024 * 1024))
    answer = _raw(server, head, [chunk] * (LIMIT // (1024 * 1024) + 4) + [b"0\r\n\r\n"])
    assert _status(answer) == 413, answer[:300]
    # Under the limit, the request goes on as before (401: no token).
    assert httpx.post(f"{server.base}{V3}/jobs/imagine", json={"prompt": "x"}).status_code == 401


def test_deep_json_is_a_400(uma: Client) -> None:
    for body in (
        b"[" * 10_000 + b"]" * 10_000,
        b'{"prompt": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b'{"prompt": "a", "x": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}",
    ):
        response = uma.http.post(
            f"{V3}/jobs/imagine", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text[:300]
        assert "nested" in response.json()["error"]


def test_ids_out_of_range_are_not_found(uma: Client, server: Server) -> None:
    for path in (
        "/images/99999999999999999999999.png",
        "/images/-99999999999999999999999.webp",
        "/images/9223372036854775808.png",
        "/images/" + "a" * 5000 + ".png",
        "/images/previews/" + "9" * 5000 + ".png",
    ):
        response = httpx.get(f"{server.base}{path}")
        assert response.status_code == 404, (path, response.text)
    for job_id in ("9" * 30, "j" * 5000):
        got = uma.get(f"/jobs/{job_id}")
        assert got.status_code == 404 and got.json() == {"error": "Job not found"}
        assert uma.http.delete(f"{V3}/jobs/{job_id}").status_code == 404
        pressed = uma.post("/jobs/button", json={"jobId": job_id, "button": "U1", "stream": False})
        assert pressed.status_code in (400, 404), pressed.text
    huge = uma.http.post(f"{V3}/accounts", json={"maxJobs": 10**30})
    assert huge.status_code == 400, huge.text


def test_image_links_are_unguessable_keys(uma: Client, server: Server) -> None:
    job = uma.imagine("keyed links --seed 3")
    urls = [job["response"]["attachments"][0]["url"]] + [
        item["url"] for item in job["response"]["imageUx"]
    ]
    keys = [urlsplit(url).path.removeprefix("/images/").removesuffix(".png") for url in urls]
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", key), key
        assert not key.isdigit()
    assert len(set(keys)) == len(keys)
    assert job["response"]["attachments"][0]["id"] == keys[0]
    for url in urls:
        assert httpx.get(url).status_code == 200
    with server.db() as db:
        ids = [row[0] for row in db.execute("select id from images")]
    for image_id in ids:
        assert httpx.get(f"{server.base}/images/{image_id}.png").status_code == 404


def test_previews_are_removed_when_their_job_ends(uma: Client, server: Server) -> None:
    events = uma.stream("/jobs/imagine", {"prompt": "preview me --seed 4"})
    shown = [
        a["url"]
        for e in events
        for a in e.get("job", {}).get("response", {}).get("attachments", [])
        if "/previews/" in a["url"]
    ]
    job_id = events[-1]["job"]["jobid"]
    done = uma.wait(job_id)
    assert done["status"] == "completed"
    with server.db() as db:
        row = db.execute("select preview_path, created from jobs where id = ?", (job_id,))
        preview_path, _ = row.fetchone()
    assert preview_path is None
    assert not list((server.data_dir / "images").rglob(f"{job_id}/preview.png"))
    for url in shown:
        assert uma.http.get(url).status_code == 404
    assert "previews" not in str(done)


def test_channels_report_and_keep_limits_in_the_documented_range(uma: Client) -> None:
    uma.imagine("a default lane --seed 5")  # makes the account's default lane
    channels = uma.http.get(f"{V3}/accounts").json()
    assert channels
    for channel in channels.values():
        assert 1 <= channel["maxJobs"] <= 15, channel
        assert 1 <= channel["maxImageJobs"] <= channel["maxJobs"], channel
        assert 1 <= channel["maxVideoJobs"] <= channel["maxJobs"], channel
    running = uma.get("/jobs").json()
    for channel in running["channels"].values():
        assert 1 <= channel["maxJobs"] <= 15, channel


def test_the_201_shows_the_job_as_created(uma: Client) -> None:
    for path, body in (
        ("/jobs/imagine", {"prompt": "created first --seed 6", "replyRef": "r1"}),
        ("/jobs/settings", {}),
    ):
        response = uma.post(path, json={**body, "stream": False})
        assert response.status_code == 201, response.text
        job = response.json()
        assert job["status"] == "created"
        assert set(job) <= {"jobid", "verb", "jobType", "status", "created", "request"}, job
        assert job["request"]["stream"] is False
        later = uma.wait(job["jobid"])
        assert later["status"] == "completed"
