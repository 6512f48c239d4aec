"""Helpers of the web app's tests: accounts with passwords, signed-in clients without a
browser."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from api_helpers import ADMIN, Server

PASSWORD = "correct horse battery"


def add_user(server: Server, name: str, plan: str = "pro", password: str = PASSWORD) -> str:
    """Makes the account with its web app password; returns its API token."""
    response = httpx.post(
        f"{server.base}/native/users",
        json={"name": name, "plan": plan, "password": password},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def signin_token(page_html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page_html)
    assert found, page_html
    return found.group(1)


@dataclass
class Browserless:
    """A signed-in client without a browser: the cookie jar and the session's CSRF token."""

    http: httpx.Client
    csrf: str

    def post(self, path: str, body: dict[str, object]) -> httpx.Response:
        return self.http.post(path, json=body, headers={"X-CSRF-Token": self.csrf})


def sign_in(server: Server, name: str, password: str = PASSWORD) -> Browserless:
    http = httpx.Client(base_url=server.base)
    token = signin_token(http.get("/signin").text)
    response = http.post("/signin", data={"name": name, "password": password, "csrf": token})
    assert response.status_code == 303, response.text
    page = http.get("/imagine")
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found, page.text
    return Browserless(http, found.group(1))
