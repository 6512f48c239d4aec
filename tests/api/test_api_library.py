"""Organize and Explore over the native API, with bearer tokens."""

from __future__ import annotations

import httpx
from api_helpers import Client, Server


def _archive(client: Client, **params: object) -> dict[str, object]:
    response = client.http.get("/native/archive", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, object] = response.json()
    return page


def test_archive_search_likes_and_explore(server: Server) -> None:
    lena, mark = server.user("lena"), server.user("mark")
    heron = lena.imagine("a grey heron fishing --seed 3")
    owl = lena.imagine("a snowy owl at night --seed 4 --stealth")
    found = _archive(lena, q="HERON")
    assert [job["jobid"] for job in found["jobs"]] == [heron["jobid"]]  # type: ignore[index]
    (job,) = found["jobs"]  # type: ignore[misc]
    assert job["images"][0]["url"].startswith(server.base)
    assert httpx.get(job["images"][0]["url"]).status_code == 200  # public: a plain link works

    liked = mark.http.post("/native/jobs/bulk", json={"ids": [heron["jobid"]], "action": "like"})
    assert liked.status_code == 200 and liked.json() == {"changed": 1, "action": "like"}
    private = mark.http.post("/native/jobs/bulk", json={"ids": [owl["jobid"]], "action": "like"})
    assert private.status_code == 404
    explore = mark.http.get("/native/explore", params={"sort": "liked"}).json()
    assert [(j["jobid"], j["likes"], j["liked"]) for j in explore["jobs"]] == [
        (heron["jobid"], 1, True)
    ]
    newest = [j["jobid"] for j in mark.http.get("/native/explore").json()["jobs"]]
    assert heron["jobid"] in newest and owl["jobid"] not in newest

    hidden = lena.http.post("/native/jobs/bulk", json={"ids": [heron["jobid"]], "action": "hide"})
    assert hidden.status_code == 200
    assert _archive(lena, q="heron")["jobs"] == []
    assert [j["jobid"] for j in _archive(lena, hidden=True)["jobs"]] == [heron["jobid"]]  # type: ignore[index]


def test_library_requests_are_checked(server: Server) -> None:
    nina = server.user("nina")
    assert httpx.get(f"{server.base}/native/archive").status_code == 401
    bad = nina.http.get("/native/archive", params={"aspect": "round"})
    assert bad.status_code == 400 and "aspect" in bad.json()["error"]
    action = nina.http.post("/native/jobs/bulk", json={"ids": ["x"], "action": "burn"})
    assert action.status_code == 400
    empty = nina.http.post("/native/jobs/bulk", json={"ids": [], "action": "like"})
    assert empty.status_code == 400
    missing = nina.http.post("/native/jobs/bulk", json={"ids": ["nope"], "action": "delete"})
    assert missing.status_code == 404
