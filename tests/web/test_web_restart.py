"""The Create page's feed survives a server restart: the page, never reloaded, sees a job that
was queued when the server was killed finish after it starts again."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import kill_server, start_server
from playwright.sync_api import Browser, expect, sync_playwright
from web_helpers import PASSWORD, add_user

JOB_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the web app's tests need Debian's chromium: apt install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path)
        try:
            yield launched
        finally:
            launched.close()


def test_the_feed_survives_a_server_restart(browser: Browser, tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    port = int(server.base.rsplit(":", 1)[1])
    try:
        add_user(server, "rae")
        page = browser.new_page()
        page.goto(f"{server.base}/signin")
        page.get_by_label("Name").fill("rae")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server.base}/imagine")
        page.get_by_label("Prompt").fill("a paper crane --seed 1")
        page.get_by_role("button", name="Imagine").click()
        card = page.locator("li.card").first
        expect(card).to_be_visible()
        # Killed before the worker (still loading its model) could finish the grid.
        assert card.get_attribute("data-status") != "completed"
    finally:
        kill_server(server)
    server = start_server(data, port=port)
    try:
        # Same page, no reload: the event stream reconnects and the card reads its job again.
        expect(card).to_have_attribute("data-status", "completed", timeout=JOB_TIMEOUT_MS)
        assert card.locator(".frame img").count() == 1
    finally:
        kill_server(server)
