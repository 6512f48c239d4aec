"""The Account page (usage, API tokens, password) and the operator's Admin page."""

from __future__ import annotations

import re
import time

import httpx
from api_helpers import V3, Server
from web_helpers import add_user, sign_in


def test_account_shows_the_plan_usage_and_the_tokens_lifecycle(server: Server) -> None:
    add_user(server, "una", plan="standard")
    una = sign_in(server, "una")
    made = una.post("/web/imagine", {"prompt": "a paper boat --seed 2"}).json()[0]
    deadline = time.monotonic() + 240
    while not una.http.get(f"/web/jobs/{made['id']}").json()["terminal"]:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    page = una.http.get("/account").text
    assert "Standard" in page and "Fast time left" in page and "Renews" in page
    assert re.search(r"Fast \d+\.\d\d h", page)  # lifetime usage by mode
    assert page.count("<rect ") == 30  # one bar per day
    assert re.search(r": 1 jobs, \d+\.\d GPU minutes", page)

    refused = una.http.post("/account/tokens", data={"csrf": "forged"})
    assert refused.status_code == 403 and "This form has expired" in refused.text
    made_token = una.http.post("/account/tokens", data={"csrf": una.csrf})
    token = re.search(r'<code id="new-token">([^<]+)</code>', made_token.text)
    assert token, made_token.text
    api = httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token[1]}"})
    assert api.get(f"{V3}/jobs").status_code == 200
    token_id = re.findall(r'action="/account/tokens/(\d+)/revoke"', made_token.text)[-1]
    revoked = una.http.post(f"/account/tokens/{token_id}/revoke", data={"csrf": una.csrf})
    assert revoked.status_code == 303
    assert api.get(f"{V3}/jobs").status_code == 401


def test_the_admin_page_is_the_operators_only(server: Server) -> None:
    add_user(server, "root")
    add_user(server, "vic", plan="basic")
    vic = sign_in(server, "vic")
    assert vic.http.get("/admin").status_code == 404
    assert vic.http.post("/admin/users", data={"csrf": vic.csrf, "name": "x"}).status_code == 404
    assert "/admin" not in vic.http.get("/imagine").text
    root = sign_in(server, "root")
    page = root.http.get("/admin")
    assert page.status_code == 200 and "vic" in page.text and 'href="/admin"' in page.text
    changed = root.http.post(
        "/admin/users/vic", data={"csrf": root.csrf, "plan": "pro", "hours": "2", "kind": "bonus"}
    )
    assert changed.status_code == 303
    row = re.search(
        r"<td>vic</td>\s*<td>(\w+)</td>\s*<td>([\d.]+) h</td>", root.http.get("/admin").text
    )
    assert row and row[1] == "pro" and float(row[2]) > 2
    bad = root.http.post("/admin/users/vic", data={"csrf": root.csrf, "hours": "lots"})
    assert bad.status_code == 400 and "Give the hours as a number" in bad.text
    created = root.http.post(
        "/admin/users",
        data={"csrf": root.csrf, "name": "wes", "plan": "standard", "password": "long enough"},
    )
    assert created.status_code == 303
    sign_in(server, "wes", "long enough")
    short = root.http.post(
        "/admin/users", data={"csrf": root.csrf, "name": "xia", "plan": "standard", "password": "x"}
    )
    assert short.status_code == 400 and "at least 8 characters" in short.text
    assert "xia" not in root.http.get("/admin").text  # nothing half made
    forged = root.http.post("/admin/users/vic", data={"csrf": "forged", "plan": "basic"})
    assert forged.status_code == 403
