"""The Settings page: the /settings choices, the suffix and option sets as forms; what they
change shows in the next prompt, and a refused value is shown next to its field."""

from __future__ import annotations

import re

from api_helpers import Server
from web_helpers import Browserless, add_user, sign_in


def _save(client: Browserless, **fields: str) -> str:
    form = {"csrf": client.csrf, "version": "default", "stylize": "100", "remix": "off", **fields}
    response = client.http.post("/settings", data=form)
    if response.status_code == 303:
        return ""
    assert response.status_code in (400, 403), response.text
    return response.text


def _next_prompt(client: Browserless, text: str) -> str:
    made = client.post("/web/imagine", {"prompt": text})
    assert made.status_code == 200, made.text
    prompt: str = made.json()[0]["prompt"]
    return prompt


def test_settings_change_the_next_prompts(server: Server) -> None:
    add_user(server, "kim", plan="standard")
    kim = sign_in(server, "kim")
    page = kim.http.get("/settings")
    assert page.status_code == 200 and 'name="stylize"' in page.text
    assert _save(kim, stylize="high", raw="on", variability="low") == ""
    prompt = _next_prompt(kim, "a tin robot")
    assert "--stylize 250" in prompt and "--raw" in prompt
    assert "Saved." in kim.http.get("/settings?saved=1").text

    suffix = kim.http.post("/settings/suffix", data={"csrf": kim.csrf, "suffix": "--ar 16:9"})
    assert suffix.status_code == 303
    assert "--ar 16:9" in _next_prompt(kim, "a tin robot")
    option = kim.http.post(
        "/settings/options", data={"csrf": kim.csrf, "name": "wide", "value": "--ar 21:9"}
    )
    assert option.status_code == 303
    assert "--ar 7:3" in _next_prompt(kim, "a tin robot --wide")  # 21:9, reduced
    gone = kim.http.post("/settings/options/wide/delete", data={"csrf": kim.csrf})
    assert gone.status_code == 303

    reset = kim.http.post("/settings/reset", data={"csrf": kim.csrf})
    assert reset.status_code == 303
    prompt = _next_prompt(kim, "a tin robot")
    assert "--stylize 100" in prompt and "--raw" not in prompt and "--ar 1:1" in prompt


def test_refusals_are_shown_next_to_their_fields(server: Server) -> None:
    add_user(server, "lou", plan="standard")
    lou = sign_in(server, "lou")
    page = _save(lou, stylize="loud")
    assert re.search(r'id="stylize-error"[^>]*>Stylize must be one of low, med, high', page)
    page = _save(lou, stylize="1500")
    assert "--stylize must be between 0 and 1000 with --version 7" in page
    page = _save(lou, visibility="stealth")
    assert 'id="visibility-error"' in page
    page = _save(lou, personalization="on")
    assert re.search(r'id="personalization-error"[^>]*>Not enough ratings<', page)
    bad = lou.http.post("/settings/suffix", data={"csrf": lou.csrf, "suffix": "hello --ar 2:1"})
    assert bad.status_code == 400 and 'id="suffix-error"' in bad.text
    forged = lou.http.post("/settings", data={"csrf": "forged", "stylize": "high"})
    assert forged.status_code == 403
    # Nothing of it was kept.
    prompt = _next_prompt(lou, "a clay pot")
    assert "--stylize 100" in prompt and " --p" not in prompt and "--ar 2:1" not in prompt
