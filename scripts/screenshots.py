"""Screenshots of each page of the web app, on a desktop and on a 390 px wide phone, for the
README (docs/images/web-*.jpg).

Starts a real server on a temporary data directory with the bundled model, makes two users and
a few pictures, and drives Debian's chromium through Playwright.
Usage: .venv/bin/python scripts/screenshots.py [--model bundled] [--only PAGE ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "api"))
from api_helpers import ADMIN, start_server, stop_server  # noqa: E402

from dreamloom.engine.catalog import every_version  # noqa: E402

OUT = ROOT / "docs" / "images"
PASSWORD = "screenshots only"
SIZES = {"desktop": (1280, 860), "phone": (390, 844)}
PROMPTS = (
    "a red fox in the snow --seed 11",
    "a lighthouse on a cliff at dawn --ar 3:2 --seed 12",
    "a bowl of ripe lemons --seed 13",
)


def user(base: str, name: str, plan: str = "pro") -> None:
    made = httpx.post(
        f"{base}/native/users",
        json={"name": name, "plan": plan, "password": PASSWORD},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    made.raise_for_status()


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/signin")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/imagine")


def wait_for_cards(page: Page, count: int) -> None:
    page.locator('li.card[data-status="completed"]').nth(count - 1).wait_for(timeout=600_000)


def make_tuner(page: Page, base: str) -> str:
    """A Style Tuner (Version 5.2) with its first four rows drawn; returns its page's path."""
    page.goto(f"{base}/tune")
    page.get_by_label("Prompt").fill("a cottage in the woods --v 5.2 --seed 21")
    page.get_by_label("Directions").select_option("16")
    page.get_by_role("button", name="Make tuner").click()
    page.wait_for_url(f"{base}/tune/*")
    page.get_by_role("button", name="Draw next 4").click()
    page.locator('figure.look[data-status="completed"]').nth(7).wait_for(timeout=600_000)
    return page.url.removeprefix(base)


def pick_looks(page: Page) -> None:
    """A few picks, so that the tuner's page shows its code."""
    for direction, side in ((0, "A"), (1, "B"), (3, "A")):
        row = page.locator(f'li.tune-row[data-direction="{direction}"]')
        row.get_by_role("radio", name=side, exact=True).check()
    page.locator("#code-out:not([hidden])").wait_for()
    page.evaluate("window.scrollTo(0, 0)")


def personalize(page: Page, base: str) -> None:
    """Something on the Personalize page: a grid picked for the V7 profile (its progress and
    pictures), and a moodboard of two more pictures pasted as links."""
    page.goto(f"{base}/personalize")
    page.get_by_role("link", name="Pick pictures").first.click()
    picks = page.locator(".pick input")
    for index in range(3):
        picks.nth(index).check()
    links = page.locator(".pick img").evaluate_all(
        "imgs => imgs.slice(3, 5).map(img => img.getAttribute('src'))"
    )
    page.get_by_role("button", name="Next").click()
    page.goto(f"{base}/personalize")
    page.get_by_label("Name").fill("Citrus")
    page.get_by_label("Moodboard (pictures you choose)").check()
    page.get_by_role("button", name="Create").click()
    page.get_by_label("Or links of this server's images, one per line").fill("\n".join(links))
    page.get_by_role("button", name="Add").click()
    page.wait_for_load_state("load")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--only", nargs="*", help="Only these pictures (create, personalize...).")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="dreamloom-shots-"))
    server = start_server(
        data,
        DREAMLOOM_MODEL=args.model,
        # Every version on the model named (the test helper's default is the tiny model).
        DREAMLOOM_VERSIONS=json.dumps(every_version(args.model)),
        DREAMLOOM_WEB_ADMINS='["ada"]',
    )
    try:
        user(server.base, "ada")
        user(server.base, "ben")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium)
            setup = browser.new_page()
            sign_in(setup, server.base, "ada")
            for count, prompt in enumerate(PROMPTS, start=1):
                setup.get_by_label("Prompt").fill(prompt)
                setup.get_by_role("button", name="Imagine").click()
                setup.locator("li.card").nth(count - 1).wait_for()
            wait_for_cards(setup, len(PROMPTS))
            first = setup.locator("li.card").last
            first.get_by_role("button", name="U1", exact=True).click()
            wait_for_cards(setup, len(PROMPTS) + 1)
            single = setup.locator("li.card").first.get_attribute("data-job")
            tuner = make_tuner(setup, server.base)
            personalize(setup, server.base)
            for name, (width, height) in SIZES.items():
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                page.goto(f"{server.base}/signin")
                if not args.only or "signin" in args.only:
                    page.screenshot(path=OUT / f"web-signin-{name}.jpg", type="jpeg", quality=82)
                sign_in(page, server.base, "ada")
                page.get_by_label("Prompt").fill("a paper boat on a pond --ar 16:9")
                time.sleep(0.6)  # the prompt's check as you type
                for path, shot in (
                    ("/imagine", "create"),
                    ("/archive", "organize"),
                    ("/explore", "explore"),
                    (f"/editor/{single}", "editor"),
                    ("/personalize", "personalize"),
                    ("/account", "account"),
                    ("/admin", "admin"),
                    (tuner, "tune"),
                ):
                    if args.only and shot not in args.only:
                        continue
                    if path != "/imagine":
                        page.goto(f"{server.base}{path}")
                    if shot == "tune":
                        pick_looks(page)
                    # Pages with a live feed keep a stream open: wait for their pictures.
                    page.wait_for_load_state("load")
                    page.wait_for_function(
                        "[...document.images].every(img => img.complete)", timeout=30_000
                    )
                    page.screenshot(path=OUT / f"web-{shot}-{name}.jpg", type="jpeg", quality=82)
                context.close()
            browser.close()
    finally:
        stop_server(server)
        shutil.rmtree(data, ignore_errors=True)
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    main()
