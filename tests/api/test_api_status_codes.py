"""The documented status codes and texts: 400, 401, 402, 404, 410, 429, 596; cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from api_helpers import V3, Server


def test_401_without_or_with_a_bad_token(server: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        response = httpx.post(
            f"{server.base}{V3}/jobs/imagine", json={"prompt": "x"}, headers=headers
        )
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthorized"}
    assert httpx.get(f"{server.base}{V3}/jobs/abc").status_code == 401


def test_402_without_a_plan(server: Server) -> None:
    nobody = server.user("no-plan", plan="none")
    response = nobody.post("/jobs/imagine", json={"prompt": "a cat", "stream": False})
    assert response.status_code == 402
    assert response.json() == {"error": "Account has no subscription or subscription expired"}
    assert nobody.post("/jobs/settings", json={"stream": False}).status_code == 402


def test_400_prompt_errors_carry_the_prompt_layers_message(server: Server) -> None:
    dora = server.user("dora-errors", plan="standard")
    response = dora.post("/jobs/imagine", json={"prompt": "a cat --stylize 5000", "stream": False})
    assert response.status_code == 400
    assert response.json() == {"error": "--stylize must be between 0 and 1000 with --version 7"}
    video = dora.post("/jobs/imagine", json={"prompt": "a cat --video", "stream": False})
    assert video.status_code == 400 and "Video is not supported" in video.json()["error"]
    bad_level = dora.post(
        "/jobs/imagine", json={"prompt": "a cat", "replyLevel": "loud", "stream": False}
    )
    assert bad_level.status_code == 400 and "replyLevel" in bad_level.json()["error"]


def test_404_and_410(server: Server) -> None:
    erin = server.user("erin-expiry", plan="standard")
    assert erin.get("/jobs/missing").status_code == 404
    assert erin.get("/jobs/missing").json() == {"error": "Job not found"}
    job = erin.imagine("an old photo --seed 6")
    old = (datetime.now(UTC) - timedelta(days=70)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with server.db() as db:
        db.execute("update jobs set created = ? where id = ?", (old, job["jobid"]))
    gone = erin.get(f"/jobs/{job['jobid']}")
    assert gone.status_code == 410
    assert gone.json() == {"error": f"Job {job['jobid']} has expired"}
    button = erin.post(
        "/jobs/button", json={"jobId": job["jobid"], "button": "U1", "stream": False}
    )
    assert button.status_code == 410 and button.json() == {"error": "Parent job has expired"}
    assert erin.http.delete(f"{V3}/jobs/{job['jobid']}").status_code == 410


def test_429_when_the_channel_is_busy(server: Server) -> None:
    fred = server.user("fred-busy", plan="standard")
    lane = fred.http.post(f"{V3}/accounts", json={"maxJobs": 1})
    assert lane.status_code == 201
    channel = lane.json()["channel"]
    first = fred.submit("/jobs/imagine", {"prompt": "slow one --seed 1"})
    second = fred.post("/jobs/imagine", json={"prompt": "slow two", "stream": False})
    assert second.status_code == 429
    assert second.json() == {"error": f"Channel {channel} is busy executing 1 image jobs"}
    fred.wait(first["jobid"])
    assert fred.post("/jobs/imagine", json={"prompt": "now", "stream": False}).status_code == 201


def test_cancel_running_and_queued_jobs(server: Server) -> None:
    gina = server.user("gina-cancel", plan="standard")
    jobs = [gina.submit("/jobs/imagine", {"prompt": f"cancel me {i} --seed {i}"}) for i in range(3)]
    for job in jobs:
        response = gina.http.delete(f"{V3}/jobs/{job['jobid']}")
        assert response.status_code in (204, 409), response.text
    ended = [gina.wait(job["jobid"]) for job in jobs]
    cancelled = [j for j in ended if j["status"] == "failed"]
    assert cancelled and all(j["error"] == "Job cancelled by user" for j in cancelled)
    again = gina.http.delete(f"{V3}/jobs/{jobs[0]['jobid']}")
    assert again.status_code == 409
    assert gina.http.delete(f"{V3}/jobs/unknown").status_code == 404
    running = gina.get("/jobs").json()
    assert running["total"] == 0


def test_running_jobs_are_listed_by_channel(server: Server) -> None:
    hank = server.user("hank-list", plan="standard")
    job = hank.submit("/jobs/imagine", {"prompt": "listed --seed 2"})
    listing = hank.get("/jobs").json()
    hank.wait(job["jobid"])
    channels = listing["channels"]
    assert listing["total"] in (0, 1)
    if listing["total"]:
        (channel,) = channels.values()
        assert channel["jobs"][0]["jobId"] == job["jobid"]
        assert {"maxJobs", "maxImageJobs", "maxVideoJobs"} <= set(channel)


def test_moderated_prompts_time_the_account_out_with_596(server: Server) -> None:
    ivan = server.user("ivan-moderated", plan="standard")
    for _ in range(3):
        job = ivan.run("/jobs/imagine", {"prompt": "a naked person on a beach"})
        assert job["status"] == "moderated"
        assert job["error"] == "prompt flagged by AI moderator" and job["code"] == 422
    locked = ivan.post("/jobs/imagine", json={"prompt": "a cat", "stream": False})
    assert locked.status_code == 596
    assert "moderation timeout" in locked.json()["error"]
    accounts = ivan.http.get(f"{V3}/accounts").json()
    assert all("moderation timeout" in c["error"] for c in accounts.values())
    lifted = server.admin("PATCH", "/native/users/ivan-moderated", json={"lift_timeout": True})
    assert lifted.status_code == 200
    assert ivan.post("/jobs/imagine", json={"prompt": "a cat", "stream": False}).status_code == 201
