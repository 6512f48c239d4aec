"""The Style Tuner page: /tune makes a tuner (Version 5.2 only, the refusal next to its field),
its creator draws rows of looks, anyone signed in picks among them and gets the --style code
of the picks, which then draws in Create."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from api_helpers import Server
from web_helpers import Browserless, add_user, sign_in

JOB_TIMEOUT_S = 240


def _make(client: Browserless, prompt: str, directions: str = "16") -> httpx.Response:
    form = {"csrf": client.csrf, "prompt": prompt, "directions": directions}
    return client.http.post("/tune", data=form)


def _drawn_row(client: Browserless, tuner_id: str, direction: int) -> dict[str, Any]:
    """The row once both its looks are done."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        read = client.http.get(f"/web/tune/{tuner_id}")
        assert read.status_code == 200, read.text
        row: dict[str, Any] = read.json()["rows"][direction]
        if all(row[side]["job"]["terminal"] for side in ("A", "B")):
            return row
        assert time.monotonic() < deadline, row
        time.sleep(0.5)


def test_signed_out_and_forged_requests_are_refused(server: Server) -> None:
    anyone = httpx.Client(base_url=server.base)
    page = anyone.get("/tune")
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/tune"
    assert anyone.get("/web/tune/x").status_code == 401
    assert anyone.post("/web/tune/x/code", json={"picks": {"0": "A"}}).status_code == 401
    add_user(server, "tuner-tia")
    tia = sign_in(server, "tuner-tia")
    forged = tia.http.post("/tune", data={"csrf": "forged", "prompt": "a barn --v 5.2"})
    assert forged.status_code == 403
    assert "/tune/" not in tia.http.get("/tune").text  # nothing was made
    made = _make(tia, "a barn --v 5.2")
    assert made.status_code == 303, made.text
    tuner_id = made.headers["location"].rsplit("/", 1)[1]
    for path, body in (("draw", {"directions": [0]}), ("code", {"picks": {"0": "A"}})):
        url = f"/web/tune/{tuner_id}/{path}"
        assert tia.http.post(url, json=body, headers={"X-CSRF-Token": "no"}).status_code == 403
    assert tia.http.get(f"/web/tune/{tuner_id}").json()["rows"][0]["A"]["job"] is None


def test_refusals_are_shown_next_to_their_fields(server: Server) -> None:
    add_user(server, "tuner-uma")
    uma = sign_in(server, "tuner-uma")
    page = _make(uma, "a red barn")
    assert page.status_code == 400
    assert re.search(
        r'id="prompt-error"[^>]*>The Style Tuner is only available in Version 5.2: ', page.text
    )
    assert "a red barn</textarea>" in page.text  # what was typed is kept
    page = _make(uma, "a red barn --v 5.2", directions="20")
    assert page.status_code == 400
    assert re.search(r'id="directions-error"[^>]*>directions must be one of 16, 32', page.text)


def test_draw_pick_and_use_the_code(server: Server) -> None:
    add_user(server, "tuner-val")
    add_user(server, "tuner-wes")
    val, wes = sign_in(server, "tuner-val"), sign_in(server, "tuner-wes")
    made = _make(val, "a red barn --v 5.2")
    assert made.status_code == 303, made.text
    link = made.headers["location"]
    assert re.fullmatch(r"/tune/[\w-]+", link)
    tuner_id = link.rsplit("/", 1)[1]
    page = val.http.get(link)
    assert page.status_code == 200 and "a red barn" in page.text
    assert f'href="{link}"' in val.http.get("/tune").text  # /list_tuners

    drawn = val.post(f"/web/tune/{tuner_id}/draw", {"directions": [0]})
    assert drawn.status_code == 200, drawn.text
    rows = drawn.json()["rows"]
    assert len(rows) == 16 and rows[0]["A"]["job"] and rows[1]["A"]["job"] is None
    row = _drawn_row(val, tuner_id, 0)
    for side in ("A", "B"):
        job = row[side]["job"]
        assert job["status"] == "completed", job
        assert f"--style {row[side]['code']}" in job["prompt"]
        assert val.http.get(job["image"]["url"]).status_code == 200

    picked = val.post(f"/web/tune/{tuner_id}/code", {"picks": {"0": "A"}})
    assert picked.status_code == 200, picked.text
    code = picked.json()["code"]
    assert code == row["A"]["code"] and picked.json()["parameter"] == f"--style {code}"
    both = val.post(f"/web/tune/{tuner_id}/code", {"picks": {"0": "B", "3": "A"}}).json()
    assert both["code"] not in (code, row["B"]["code"])
    assert val.post(f"/web/tune/{tuner_id}/code", {"picks": {}}).status_code == 400
    used = val.post("/web/imagine", {"prompt": f"a boat --v 5.2 --style {code}"})
    assert used.status_code == 200, used.text

    # Tuner links are public: another user sees the drawn looks and picks, but cannot draw.
    seen = wes.http.get(link)
    assert seen.status_code == 200 and "a red barn" in seen.text
    theirs = wes.http.get(f"/web/tune/{tuner_id}").json()
    assert theirs["mine"] is False and theirs["rows"][0]["B"]["job"]["id"] == row["B"]["job"]["id"]
    refused = wes.post(f"/web/tune/{tuner_id}/draw", {"directions": [1]})
    assert refused.status_code == 403
    assert refused.json()["error"] == "Only the tuner's creator can draw its looks"
    assert wes.post(f"/web/tune/{tuner_id}/code", {"picks": {"0": "A"}}).json()["code"] == code
    assert f'href="{link}"' not in wes.http.get("/tune").text  # not in his list
    assert wes.http.get("/tune/nope").status_code == 404
