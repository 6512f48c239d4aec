"""SSE streams and webhooks: the reference's events, in order, with their payloads."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import (
    Client,
    Receiver,
    Server,
    deliveries_across_a_crash,
    imagine_with_webhook,
)


@pytest.fixture(scope="module")
def bob(server: Server) -> Client:
    return server.user("bob-stream", plan="standard")


def test_imagine_stream_runs_from_initialized_to_completed(bob: Client) -> None:
    fetched: list[httpx.Response] = []

    def fetch_first_preview(event: dict[str, Any]) -> None:
        # While the job runs: its preview goes once the run is over.
        for attachment in event.get("job", {}).get("response", {}).get("attachments", []):
            if "/previews/" in attachment["url"] and not fetched:
                fetched.append(httpx.get(attachment["url"]))

    events = bob.stream(
        "/jobs/imagine", {"prompt": "a quiet harbour --seed 4"}, on_event=fetch_first_preview
    )
    names = [e["event"] for e in events]
    assert names[0] == "initialized" and events[0]["seq"] == 0
    assert events[0]["message"] == "Stream initialized"
    job_id = events[0]["jobId"]
    assert names[1] == "midjourney_created" and names[-1] == "midjourney_completed"
    assert "midjourney_progress" in names
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(len(e["ts"]) == len("18:11:25.857") for e in events)
    jobs = [e["job"] for e in events[1:]]
    assert all(job["jobid"] == job_id for job in jobs)
    percents = [j["response"]["progress_percent"] for j in jobs if j["status"] == "progress"]
    assert percents == sorted(percents) and all(0 <= p < 100 for p in percents)
    previews = [
        j["response"]["attachments"][0]["url"]
        for j in jobs
        if j["status"] == "progress" and "attachments" in j.get("response", {})
    ]
    assert previews, "progress events carry preview attachments"
    assert fetched[0].status_code == 200
    assert fetched[0].headers["content-type"] == "image/png"
    assert bob.http.get(previews[-1]).status_code == 404  # gone with its run
    done = jobs[-1]
    assert done["code"] == 200 and len(done["response"]["imageUx"]) == 4
    assert done == {**bob.get(f"/jobs/{job_id}").json(), "updated": done["updated"]}


def test_stream_of_an_instant_job_and_of_a_repeated_button(bob: Client) -> None:
    grid = bob.imagine("a small boat --seed 2")
    events = bob.stream("/jobs/button", {"jobId": grid["jobid"], "button": "U1"})
    assert [e["event"] for e in events] == [
        "initialized",
        "midjourney_created",
        "midjourney_completed",
    ]
    again = bob.stream("/jobs/button", {"jobId": grid["jobid"], "button": "U1"})
    assert again[-1]["job"]["jobid"] == events[-1]["job"]["jobid"]


def test_errors_before_streaming_are_plain_json(bob: Client) -> None:
    response = bob.post("/jobs/imagine", json={"prompt": ""})
    assert response.status_code == 400
    assert response.json() == {"error": "Parameter prompt is required"}


def _wait_for(receiver: Receiver, path: str, status: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not any(b.get("status") == status for b in receiver.bodies(path)):
        assert time.monotonic() < deadline, receiver.bodies(path)
        time.sleep(0.1)


def test_webhooks_arrive_in_order_at_each_reply_level(bob: Client, receiver: Receiver) -> None:
    jobs = {}
    for level in ("all", "standard", "minimal"):
        path = f"/hook-{level}"
        job = bob.submit(
            "/jobs/imagine",
            {
                "prompt": f"a lantern {level} --seed 8",
                "replyUrl": receiver.url(path),
                "replyRef": f"ref-{level}",
                "replyLevel": level,
            },
        )
        jobs[level] = job["jobid"]
    for level, job_id in jobs.items():
        path = f"/hook-{level}"
        _wait_for(receiver, path, "completed")
        bodies = receiver.bodies(path)
        assert all(b["jobid"] == job_id for b in bodies)
        assert all(b["request"]["replyRef"] == f"ref-{level}" for b in bodies)
        statuses = [b["status"] for b in bodies]
        if level == "all":
            assert statuses[0] == "created" and statuses[-1] == "completed"
            assert "progress" in statuses
            order = {"created": 0, "started": 1, "progress": 2, "completed": 3}
            ranks = [order[s] for s in statuses]
            assert ranks == sorted(ranks)
        elif level == "standard":
            assert statuses == ["created", "completed"]
        else:
            assert statuses == ["completed"]
        headers = [h for p, h, _ in receiver.received if p == path]
        seqs = [int({k.lower(): v for k, v in h.items()}["x-dreamloom-seq"]) for h in headers]
        assert seqs == sorted(seqs)
        assert bodies[-1]["response"]["buttons"][0] == "U1"


def test_webhooks_are_retried_and_channel_urls_get_events_too(
    server: Server, receiver: Receiver
) -> None:
    carol = server.user("carol-hooks", plan="standard")
    channel = carol.http.post(
        "/v3/midjourney/accounts", json={"replyUrl": receiver.url("/channel-hook")}
    )
    assert channel.status_code == 201, channel.text
    receiver.fail_first["/job-hook"] = 2  # two failures, then success
    job = carol.submit(
        "/jobs/imagine",
        {
            "prompt": "a kite --seed 1",
            "replyUrl": receiver.url("/job-hook"),
            "replyLevel": "minimal",
        },
    )
    _wait_for(receiver, "/job-hook", "completed")
    _wait_for(receiver, "/channel-hook", "completed")
    assert [b["jobid"] for b in receiver.bodies("/job-hook")] == [job["jobid"]]
    assert receiver.fail_first["/job-hook"] == 0
    assert carol.wait(job["jobid"])["status"] == "completed"


def test_a_private_reply_url_is_refused_at_submission(bob: Client) -> None:
    """Accepted, it would never be called: the client learns it at once (400), for the job's
    replyUrl and for a channel's."""
    for url in ("http://127.0.0.1:9/private-hook", "http://[::1]:9/x", "http://169.254.169.254/"):
        response = bob.post(
            "/jobs/imagine", json={"prompt": "a door --seed 3", "replyUrl": url, "stream": False}
        )
        assert response.status_code == 400, response.text
        assert url in response.json()["error"] and "private" in response.json()["error"]
    channel = bob.http.post(
        "/v3/midjourney/accounts", json={"replyUrl": "http://10.0.0.7/channel-hook"}
    )
    assert channel.status_code == 400, channel.text
    assert "http://10.0.0.7/channel-hook" in channel.json()["error"]


def test_another_users_host_header_never_reaches_your_links(
    server: Server, receiver: Receiver
) -> None:
    """Links are built on the configured public URL (by default the address served), not on
    whatever Host a request names: one user's ``Host: evil.example:6666`` must not end up in
    another user's webhooks or responses (stealth links carry signatures)."""
    alice = server.user("alice-links", plan="pro")
    mallory = server.user("mallory-links", plan="pro")
    evil = {"Host": "evil.example:6666", "Authorization": f"Bearer {mallory.token}"}
    theirs = httpx.post(
        f"{server.base}/v3/midjourney/jobs/imagine",
        json={"prompt": "a mask --seed 9", "stream": False},
        headers=evil,
    )
    assert theirs.status_code == 201, theirs.text
    job = alice.submit(
        "/jobs/imagine",
        {
            "prompt": "a secret garden --stealth --seed 9",
            "replyUrl": receiver.url("/links-hook"),
            "replyLevel": "minimal",
        },
    )
    _wait_for(receiver, "/links-hook", "completed")
    (hooked,) = receiver.bodies("/links-hook")
    done = alice.wait(job["jobid"])
    mallory.wait(theirs.json()["jobid"])
    # Even the answer to the request that names another host links to this server.
    mallorys = httpx.get(
        f"{server.base}/v3/midjourney/jobs/{theirs.json()['jobid']}", headers=evil
    ).json()
    for body in (hooked, done, mallorys):
        links = [a["url"] for a in body["response"]["attachments"]]
        links += [image["url"] for image in body["response"]["imageUx"]]
        assert links and all(link.startswith(f"{server.base}/images/") for link in links), links
        assert "evil" not in json.dumps(body)
    assert "?sig=" in hooked["response"]["attachments"][0]["url"]  # a stealth link


def test_webhooks_survive_a_receiver_down_and_a_sigkill(tmp_path: Path) -> None:
    deliveries_across_a_crash(tmp_path / "data", imagine_with_webhook)


def _statuses(events: list[dict[str, Any]]) -> list[str]:
    return [e["job"]["status"] for e in events if "job" in e]
