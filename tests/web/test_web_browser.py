"""The web app in a real browser: Debian's chromium driven by Playwright, against a real server.

No browser download is possible on the machines this runs on: Playwright launches the system's
chromium (``apt install chromium``; ``.ci/run`` and ``scripts/setup.sh --dev`` install it).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from api_helpers import Server
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import PASSWORD, add_user

# A grid of the tiny model takes seconds; on a loaded CI machine, give it a minute and more.
JOB_TIMEOUT_MS = 180_000
IMAGE_LINK = re.compile(r"^/web/images/[A-Za-z0-9_-]+\.png$")


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the web app's tests need Debian's chromium: apt install chromium")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path())
        try:
            yield launched
        finally:
            launched.close()


def sign_in(page: Page, server: Server, name: str) -> None:
    page.goto(f"{server.base}/imagine")
    expect(page).to_have_url(f"{server.base}/signin?next=/imagine")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base}/imagine")


def test_imagine_watch_the_grid_upscale_and_sign_out(server: Server, browser: Browser) -> None:
    add_user(server, "ada")
    page = browser.new_page()
    sign_in(page, server, "ada")

    # Validation as you type, in the parser's words.
    page.get_by_label("Prompt").fill("a lighthouse --ar 3")
    expect(page.locator("#prompt-error")).to_contain_text("--ar must be width:height")
    page.get_by_label("Prompt").fill("a lighthouse at dawn --seed 7")
    expect(page.locator("#prompt-error")).to_have_text("")
    page.get_by_role("button", name="Imagine").click()

    card = page.locator("li.card").first
    expect(card.locator(".prompt")).to_contain_text("a lighthouse at dawn")
    # The card appears at once, then its status moves on over SSE until the grid is there.
    expect(card).to_have_attribute("data-status", "completed", timeout=JOB_TIMEOUT_MS)
    grid = card.locator(".frame img")
    expect(grid).to_have_attribute("src", IMAGE_LINK)
    assert grid.evaluate("img => img.complete && img.naturalWidth > 0")
    for label in ("U1", "U2", "U3", "U4", "V1", "🔄"):
        expect(card.get_by_role("button", name=label, exact=True)).to_be_visible()

    # U1: a new card with the picture's buttons; then Upscale (Subtle) on it.
    card.get_by_role("button", name="U1", exact=True).click()
    single = page.locator("li.card").first
    expect(single).to_have_attribute("data-status", "completed", timeout=JOB_TIMEOUT_MS)
    upscale = single.get_by_role("button", name="Upscale (Subtle)")
    expect(upscale).to_be_visible()
    width = int(single.locator(".frame img").evaluate("img => img.naturalWidth"))
    upscale.click()
    upscaled = page.locator("li.card").first
    expect(upscaled.locator(".prompt")).to_contain_text("a lighthouse at dawn")
    expect(upscaled).to_have_attribute("data-status", "completed", timeout=JOB_TIMEOUT_MS)
    expect(upscaled.get_by_role("button", name="Redo Upscale (Subtle)")).to_be_visible()
    upscaled_img = upscaled.locator(".frame img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=upscaled_img.element_handle()
    )
    assert int(upscaled_img.evaluate("img => img.naturalWidth")) == 2 * width

    # The feed survives a reload.
    page.reload()
    expect(page.locator("li.card")).to_have_count(3)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.base}/signin")
    page.goto(f"{server.base}/imagine")
    expect(page).to_have_url(f"{server.base}/signin?next=/imagine")
