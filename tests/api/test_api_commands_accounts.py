"""Settings-type commands and the accounts (channels) family."""

from __future__ import annotations

import httpx
from api_helpers import V3, Server


def test_settings_info_and_mode_switches(server: Server) -> None:
    jane = server.user("jane-settings", plan="standard")
    settings = jane.run("/jobs/settings", {})
    assert settings["verb"] == "settings" and settings["status"] == "completed"
    assert "jobType" not in settings
    values = settings["response"]["settings"]
    assert values["version"] == "7" and values["fast"] is True and values["relax"] is False
    assert values["variability"] is True and values["public"] is True
    assert set(values) == {
        "version",
        "stylize",
        "raw",
        "personalization",
        "public",
        "remix",
        "variability",
        "turbo",
        "fast",
        "relax",
        "suffix",
    }
    assert settings["response"]["content"].startswith("Adjust your settings here.")
    relax = jane.run("/jobs/relax", {})
    assert relax["response"]["settings"] == {"relax": True, "fast": False, "turbo": False}
    info = jane.run("/jobs/info", {})
    assert info["response"]["settings"] == {"relax": True, "fast": False, "turbo": False}
    assert info["response"]["embeds"][0]["title"] == "Your info - jane-settings"
    assert "**Job Mode**: Relaxed" in info["response"]["content"]
    job = jane.imagine("relaxing --seed 4")
    assert job["response"]["content"].endswith("(relaxed)")
    turbo = jane.run("/jobs/turbo", {})
    assert turbo["response"]["settings"]["turbo"] is True
    fast = jane.run("/jobs/fast", {})
    assert fast["response"]["settings"] == {"relax": False, "fast": True, "turbo": False}
    variability = jane.run("/jobs/variability", {})
    assert variability["response"]["settings"] == {"variability": False}
    streamed = jane.stream("/jobs/remix", {})
    assert streamed[-1]["event"] == "midjourney_completed"
    assert streamed[-1]["job"]["response"]["settings"] == {"remix": True}


def test_relax_needs_a_plan_with_relax(server: Server) -> None:
    kim = server.user("kim-basic", plan="basic")
    response = kim.post("/jobs/relax", json={"stream": False})
    assert response.status_code == 400 and "Relax" in response.json()["error"]


def test_channels_are_configured_listed_reset_and_deleted(server: Server) -> None:
    lee = server.user("lee-channels", plan="pro")
    assert lee.http.get(f"{V3}/accounts").status_code == 404
    created = lee.http.post(
        f"{V3}/accounts",
        json={"discord": "MTIzNDU2Nzg5MDEyMzQ1Njc4.token-xyz", "maxJobs": 5, "maxImageJobs": 4},
    )
    assert created.status_code == 201, created.text
    one = created.json()
    assert one["discord"] == "MTI...xyz" and one["maxJobs"] == 5 and one["maxImageJobs"] == 4
    assert one["channel"].isdigit()
    same = lee.http.post(
        f"{V3}/accounts", json={"discord": "MTIzNDU2Nzg5MDEyMzQ1Njc4.token-xyz", "maxJobs": 6}
    )
    assert same.status_code == 200 and same.json()["channel"] == one["channel"]
    other = lee.http.post(f"{V3}/accounts", json={"discord": "another-token-abc"})
    assert other.status_code == 201
    listing = lee.http.get(f"{V3}/accounts").json()
    assert set(listing) == {one["channel"], other.json()["channel"]}
    assert lee.http.get(f"{V3}/accounts/{one['channel']}").json()["maxJobs"] == 6
    # Two channels: commands must name one.
    ambiguous = lee.post("/jobs/settings", json={"stream": False})
    assert ambiguous.status_code == 400
    assert ambiguous.json() == {
        "error": "channel parameter is required when multiple channels (2) are configured"
    }
    named = lee.submit("/jobs/settings", {"channel": one["channel"]})
    assert named["request"]["channel"] == one["channel"]
    job = lee.submit("/jobs/imagine", {"prompt": "in a lane --seed 1", "channel": one["channel"]})
    assert lee.get("/jobs").json()["channels"][one["channel"]]["maxJobs"] == 6
    lee.wait(job["jobid"])
    bad = lee.http.post(f"{V3}/accounts", json={"maxJobs": 99})
    assert bad.status_code == 400 and "maxJobs" in bad.json()["error"]
    assert lee.http.post(f"{V3}/accounts/reset/{one['channel']}").status_code == 204
    deleted = lee.http.delete(f"{V3}/accounts/{one['channel']}")
    assert deleted.status_code == 204
    missing = lee.http.get(f"{V3}/accounts/{one['channel']}")
    assert missing.status_code == 404 and missing.content == b""
    assert lee.http.delete(f"{V3}/accounts/{one['channel']}").status_code == 404


def test_channels_belong_to_their_account(server: Server) -> None:
    mia = server.user("mia-lanes", plan="standard")
    ned = server.user("ned-lanes", plan="standard")
    lane = mia.http.post(f"{V3}/accounts", json={"maxJobs": 2}).json()["channel"]
    assert ned.http.get(f"{V3}/accounts/{lane}").status_code == 404
    taken = ned.http.post(f"{V3}/accounts", json={"channel": lane})
    assert taken.status_code == 409
    refused = ned.post("/jobs/imagine", json={"prompt": "x", "channel": lane, "stream": False})
    assert refused.status_code == 400


def test_admin_endpoints_need_the_admin_token(server: Server) -> None:
    response = httpx.post(f"{server.base}/native/users", json={"name": "x"})
    assert response.status_code == 401
    assert server.admin("POST", "/native/users", json={"name": "bad name!"}).status_code == 400
