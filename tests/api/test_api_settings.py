"""The native settings endpoints over the real server: each change is followed by an imagine
through v3, whose job shows the change (its prompt line, its image's shape, its links)."""

from __future__ import annotations

from typing import Any

import httpx
from api_helpers import Client, Server


def _native(client: Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return client.http.request(method, f"/native{path}", **kwargs)


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    job: dict[str, Any] = response.json()
    assert job["status"] == "completed"
    return job


def test_settings_changes_reach_the_next_imagine(server: Server) -> None:
    ada = server.user("ada-native-settings", plan="standard")
    job = _ok(_native(ada, "POST", "/settings", json={"stylize": "high", "version": "6.1"}))
    assert job["verb"] == "settings"
    assert job["request"] == {"stylize": "high", "version": "6.1"}
    settings = job["response"]["settings"]
    assert settings["stylize"] == 250 and settings["version"] == "6.1"
    assert job["response"]["content"] == (
        "Adjust your settings here. Current suffix: ` --v 6.1 --s 250`"
    )
    # v3's read-only /settings sees the change, in the reference's shape.
    read = ada.run("/jobs/settings", {})
    assert read["response"]["settings"] == settings
    # Its panel, as the reference's settings job carries one, shows the same.
    buttons = [c for row in read["response"]["components"][1:] for c in row["components"]]
    assert [c["label"] for c in buttons if c["style"] == 3] == [
        "Stylize high",
        "Public mode",
        "Strong Variation Mode",
        "Fast mode",
    ]
    made = ada.imagine("a paper boat --seed 8")
    assert made["status"] == "completed", made
    assert "--stylize 250" in made["response"]["content"]
    assert "--v 6.1" in made["response"]["content"]

    refused = _native(ada, "POST", "/settings", json={"version": "9"})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "--version must be one of 1, 2, 3, 4, 5, 5.1, 5.2, 6, 6.1, 7"
    }
    refused = _native(ada, "POST", "/settings", json={"stylize": 4000})
    assert refused.json() == {"error": "--stylize must be between 0 and 1000 with --version 6.1"}
    refused = _native(ada, "POST", "/settings", json={"colour": "red"})
    assert refused.status_code == 400 and "colour" in refused.json()["error"]
    refused = _native(ada, "POST", "/settings", json={"visibility": "stealth"})
    assert refused.status_code == 400
    assert refused.json() == {"error": "Stealth mode is only available with a pro or mega plan"}
    refused = _native(ada, "POST", "/stealth", json={})
    assert refused.status_code == 400

    reset = _ok(_native(ada, "POST", "/settings/reset"))
    assert reset["response"]["settings"]["stylize"] == 100
    assert reset["response"]["settings"]["version"] == "7"
    assert reset["response"]["settings"]["suffix"] == ""
    assert httpx.post(f"{server.base}/native/settings", json={"raw": True}).status_code == 401


def test_suffix_and_option_sets(server: Server) -> None:
    bo = server.user("bo-native-prefer", plan="standard")
    shown = _ok(_native(bo, "GET", "/prefer/suffix"))
    assert shown["verb"] == "prefer"
    assert shown["response"]["content"] == (
        "You have no custom suffix. Set one with `/prefer suffix`."
    )
    job = _ok(_native(bo, "PUT", "/prefer/suffix", json={"suffix": "--ar 16:9"}))
    assert job["response"]["content"] == "Custom suffix set to ` --ar 16:9`"
    assert job["response"]["settings"]["suffix"] == " --ar 16:9"
    wide = bo.imagine("a long corridor --seed 2")
    grid = wide["response"]["attachments"][0]
    assert grid["width"] > grid["height"]
    bad = _native(bo, "PUT", "/prefer/suffix", json={"suffix": "--chaos 400"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "--chaos must be between 0 and 100 with --version 7"}
    cleared = _ok(_native(bo, "DELETE", "/prefer/suffix"))
    assert cleared["response"]["content"] == "Custom suffix removed."

    made = _ok(_native(bo, "PUT", "/prefer/options/tall", json={"value": "--ar 1:2"}))
    assert made["response"]["optionSets"] == {"tall": "--ar 1:2"}
    listed = _ok(_native(bo, "GET", "/prefer/options"))
    assert listed["response"]["optionSets"] == {"tall": "--ar 1:2"}
    tall = bo.imagine("a tower --tall --seed 2")
    grid = tall["response"]["attachments"][0]
    assert grid["height"] > grid["width"]
    bad = _native(bo, "PUT", "/prefer/options/no", json={"value": "--ar 1:2"})
    assert bad.json() == {"error": "--no is a parameter: an option cannot take its name"}
    gone = _ok(_native(bo, "DELETE", "/prefer/options/tall"))
    assert gone["response"]["optionSets"] == {}
    missing = _native(bo, "DELETE", "/prefer/options/tall")
    assert missing.status_code == 404
    assert missing.json() == {"error": "No custom option named --tall"}


def test_stealth_public_and_show(server: Server) -> None:
    cy = server.user("cy-native-show", plan="pro")
    stealth = _ok(_native(cy, "POST", "/stealth", json={}))
    assert stealth["verb"] == "stealth" and stealth["response"]["settings"] == {"public": False}
    hidden = cy.imagine("a secret map --seed 5")
    link = hidden["response"]["attachments"][0]["url"]
    assert "sig=" in link  # stealth images are only served on signed links
    assert httpx.get(link.split("?")[0]).status_code == 404
    public = _ok(_native(cy, "POST", "/public", json={}))
    assert public["response"]["settings"] == {"public": True}
    seen = cy.imagine("an open map --seed 5")
    assert "sig=" not in seen["response"]["attachments"][0]["url"]

    shown = _ok(_native(cy, "POST", "/show", json={"jobId": seen["jobid"]}), status=201)
    assert shown["verb"] == "show" and shown["jobType"] == "image"
    assert shown["response"]["buttons"] == seen["response"]["buttons"]
    assert [u["id"] for u in shown["response"]["imageUx"]] == [1, 2, 3, 4]
    assert shown["response"]["content"] == seen["response"]["content"]
    split = cy.press(shown["jobid"], "U3")
    assert split["status"] == "completed"
    assert split["response"]["attachments"][0]["width"] > 0

    other = server.user("dee-native-show", plan="pro")
    refused = _native(other, "POST", "/show", json={"jobId": seen["jobid"]})
    assert refused.status_code == 404 and refused.json() == {"error": "Job not found"}
    refused = _native(cy, "POST", "/show", json={})
    assert refused.status_code == 400 and refused.json() == {"error": "jobId is required"}
