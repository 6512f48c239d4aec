"""Personalization over the native API: what the web app's Personalize page and scripts call.
Ranked pictures unlock a profile, `--p ID` in a v3 imagine becomes the profile's code, whose
pictures travel in the recipe and change the picture; moodboards take uploads by their links."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from api_helpers import Client, Server, png, start_server, stop_server

P = "/native/personalize"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("personalize"),
        DREAMLOOM_IP_ADAPTER="tiny",
        DREAMLOOM_WORKERS="1",
        DREAMLOOM_PERSONALIZE_RANKINGS="2",
    )
    try:
        yield running
    finally:
        stop_server(running)


def _ok(response: httpx.Response, status: int = 200) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    return body


def _profiles(client: Client) -> list[dict[str, object]]:
    return _ok(client.http.get(f"{P}/profiles"))["profiles"]  # type: ignore[return-value]


def test_rank_unlock_and_imagine_with_the_profile(server: Server) -> None:
    ann = server.user("p-ann")
    job = ann.imagine("a red barn --seed 1")
    assert job["status"] == "completed", job
    (v7,) = [p for p in _profiles(ann) if p["kind"] == "global" and p["version"] == "7"]
    assert (v7["rankings"], v7["needed"], v7["unlocked"], v7["default"]) == (0, 2, False, True)
    refused = ann.post("/jobs/imagine", json={"prompt": "a cat --p", "stream": False})
    assert refused.status_code == 400 and refused.json()["error"] == "Not enough ratings"

    for _ in range(2):
        pair = _ok(ann.http.get(f"{P}/profiles/{v7['id']}/candidates", params={"count": 2}))
        shown = [image["url"] for image in pair["images"]]  # type: ignore[attr-defined]
        assert len(shown) == 2 and all("/images/" in url for url in shown)
        # Links name pictures as well as keys do.
        view = _ok(
            ann.http.post(
                f"{P}/profiles/{v7['id']}/picks", json={"shown": shown, "picked": shown[:1]}
            )
        )
    assert view["rankings"] == 2 and view["unlocked"] is True

    plain = ann.imagine("a cat --seed 4")
    personal = ann.imagine(f"a cat --seed 4 --p {v7['id']}")
    assert personal["status"] == "completed", personal
    code = personal["response"]["content"].split("--p ")[1].split()[0].strip("*")
    assert code != v7["id"]
    with server.db() as db:
        (raw,) = db.execute("select recipe from jobs where id = ?", (personal["jobid"],)).fetchone()
    kinds = {ref["kind"] for ref in json.loads(raw)["references"]}
    assert kinds == {"personal"}
    before = np.asarray(ann.image(plain["response"]["attachments"][0]["url"]), dtype=float)
    after = np.asarray(ann.image(personal["response"]["attachments"][0]["url"]), dtype=float)
    assert np.abs(before - after).mean() > 1
    listed = _ok(ann.http.get(f"{P}/codes"))["codes"]
    assert [c["code"] for c in listed] == [code]  # type: ignore[index]


def test_moodboards_take_uploads_by_link(server: Server) -> None:
    bob = server.user("p-bob")
    board = _ok(bob.http.post(f"{P}/profiles", json={"name": "Blues", "kind": "moodboard"}), 201)
    upload = _ok(
        bob.http.post(
            "/native/uploads", files={"imageBlob": ("b.png", png((48, 48), (10, 20, 230)))}
        ),
        201,
    )
    added = _ok(
        bob.http.post(f"{P}/profiles/{board['id']}/images", json={"images": [upload["url"]]})
    )
    assert added["unlocked"] is True and len(added["pictures"]) == 1  # type: ignore[arg-type]
    code = _ok(bob.http.post(f"{P}/profiles/{board['id']}/code"))
    assert code["parameter"] == f"--p {code['code']}"
    renamed = _ok(bob.http.patch(f"{P}/profiles/{board['id']}", json={"name": "Deep blues"}))
    assert renamed["name"] == "Deep blues"
    chosen = _ok(bob.http.post(f"{P}/defaults", json={"ids": [board["id"]]}))["profiles"]
    assert [p["id"] for p in chosen if p["default"]] == [board["id"]]  # type: ignore[index]
    job = bob.imagine("a cat --seed 2 --p")
    assert f"--p {code['code']}" in job["response"]["content"], job
    assert bob.http.delete(f"{P}/profiles/{board['id']}").status_code == 204
    assert bob.http.get(f"{P}/profiles/{board['id']}").status_code == 404
    # Its code still works.
    assert bob.imagine(f"a cat --p {code['code']}")["status"] == "completed"


def test_bad_requests_get_clear_errors(server: Server) -> None:
    cat = server.user("p-cat")
    anonymous = httpx.get(f"{server.base}{P}/profiles")
    assert anonymous.status_code == 401
    (v7, *_) = _profiles(cat)
    extra = cat.http.post(f"{P}/profiles/{v7['id']}/picks", json={"shown": ["a"], "score": 3})
    assert extra.status_code == 400 and "score" in extra.json()["error"]
    custom = cat.http.post(f"{P}/profiles", json={"name": "Mine"})
    assert custom.status_code == 400
    assert custom.json()["error"] == "Unlock your global V7 profile first: Not enough ratings"
    unknown = cat.http.get(f"{P}/profiles/pnothing/candidates")
    assert unknown.status_code == 404 and "No such profile" in unknown.json()["error"]
    too_many = cat.http.get(f"{P}/profiles/{v7['id']}/candidates", params={"count": 99})
    assert too_many.status_code in (400, 422)


def test_the_style_tuner(server: Server) -> None:
    dan, eve = server.user("t-dan"), server.user("t-eve")
    made = dan.http.post("/native/tuners", json={"prompt": "a red barn --v 5.2", "directions": 16})
    tuner = _ok(made, 201)
    rows = tuner["rows"]
    assert len(rows) == 16 and rows[0]["A"]["job"] is None  # type: ignore[index,arg-type]
    drawn = _ok(dan.http.post(f"/native/tuners/{tuner['id']}/draw", json={"directions": [2]}))
    row = drawn["rows"][2]  # type: ignore[index]
    looks = [dan.wait(row[side]["job"]["jobid"]) for side in ("A", "B")]
    assert all(look["status"] == "completed" for look in looks), looks
    assert f"--style {row['A']['code']}" in looks[0]["response"]["content"]
    # Anyone may open a tuner and pick; only its creator draws.
    seen = _ok(eve.http.get(f"/native/tuners/{tuner['id']}"))
    assert seen["rows"][2]["B"]["job"]["jobid"] == looks[1]["jobid"]  # type: ignore[index]
    refused = eve.http.post(f"/native/tuners/{tuner['id']}/draw", json={"directions": [1]})
    assert refused.status_code == 403
    picked = _ok(eve.http.post(f"/native/tuners/{tuner['id']}/code", json={"picks": {"2": "B"}}))
    assert picked["code"] == row["B"]["code"]
    job = eve.imagine(f"a boat --v 5.2 {picked['parameter']}")
    assert job["status"] == "completed", job
    listed = _ok(dan.http.get("/native/tuners"))["tuners"]
    assert [t["id"] for t in listed] == [tuner["id"]]  # type: ignore[index]
    wrong = dan.http.post("/native/tuners", json={"prompt": "a red barn"})
    assert wrong.status_code == 400 and "only available in Version 5.2" in wrong.json()["error"]
    bad = eve.http.post(f"/native/tuners/{tuner['id']}/code", json={"picks": {"2": "C"}})
    assert bad.status_code == 400
