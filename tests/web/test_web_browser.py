"""The web app in a real browser: Debian's chromium driven by Playwright, against a real server.

No browser download is possible on the machines this runs on: Playwright launches the system's
chromium (``apt install chromium``; ``.ci/run`` and ``scripts/setup.sh --dev`` install it).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import Server
from PIL import Image
from playwright.sync_api import Browser, Dialog, Locator, Page, expect, sync_playwright
from web_helpers import PASSWORD, add_user
from web_helpers import sign_in as web_sign_in

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


def finished(card: Locator) -> Locator:
    expect(card).to_have_attribute("data-status", "completed", timeout=JOB_TIMEOUT_MS)
    return card


def newest(page: Page, count: int) -> Locator:
    """The newest card, once the feed holds ``count`` cards (a new job's card is on top)."""
    expect(page.locator("li.card")).to_have_count(count)
    return finished(page.locator("li.card").first)


def sign_in(page: Page, server: Server, name: str) -> None:
    page.goto(f"{server.base}/imagine")
    expect(page).to_have_url(f"{server.base}/signin?next=/imagine")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base}/imagine")


def test_a_day_in_the_web_app(server: Server, browser: Browser) -> None:
    """Sign in; imagine and watch the grid come; U1 and Upscale (Subtle); Vary (Region) with
    the brush; like the result and find it in Organize by a word of its prompt; publish it and
    see it in another user's Explore, who cannot see it before; sign out."""
    add_user(server, "ada")
    add_user(server, "ben")
    page = browser.new_page()
    sign_in(page, server, "ada")

    # Validation as you type, in the parser's words.
    page.get_by_label("Prompt").fill("a lighthouse --ar 3")
    expect(page.locator("#prompt-error")).to_contain_text("--ar must be width:height")
    page.get_by_label("Prompt").fill("a lighthouse at dawn --seed 7 --stealth")
    expect(page.locator("#prompt-error")).to_have_text("")
    page.get_by_role("button", name="Imagine").click()

    # The card appears at once, then its status moves on over SSE until the grid is there.
    card = page.locator("li.card").first
    expect(card.locator(".prompt")).to_contain_text("a lighthouse at dawn")
    card = newest(page, 1)
    grid = card.locator(".frame img")
    expect(grid).to_have_attribute("src", IMAGE_LINK)
    assert grid.evaluate("img => img.complete && img.naturalWidth > 0")
    for label in ("U1", "U2", "U3", "U4", "V1", "🔄"):
        expect(card.get_by_role("button", name=label, exact=True)).to_be_visible()

    # U1: a new card with the picture's buttons; then Upscale (Subtle) on it.
    card.get_by_role("button", name="U1", exact=True).click()
    single = newest(page, 2)
    single_id = single.get_attribute("data-job")
    width = int(single.locator(".frame img").evaluate("img => img.naturalWidth"))
    single.get_by_role("button", name="Upscale (Subtle)").click()
    upscaled = newest(page, 3)
    expect(upscaled.get_by_role("button", name="Redo Upscale (Subtle)")).to_be_visible()
    upscaled_img = upscaled.locator(".frame img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=upscaled_img.element_handle()
    )
    assert int(upscaled_img.evaluate("img => img.naturalWidth")) == 2 * width
    private_link = str(upscaled_img.get_attribute("src"))

    # Vary (Region): the editor, a brush stroke across the middle, submit.
    page.locator(f'li.card[data-job="{single_id}"]').get_by_role(
        "link", name="Vary (Region)"
    ).click()
    expect(page).to_have_url(f"{server.base}/editor/{single_id}")
    submit = page.get_by_role("button", name="Submit")
    submit.click()
    expect(page.locator("#editor-error")).to_have_text("Paint the area to change first")
    box = page.locator("#editor-mask").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    submit.click()
    expect(page).to_have_url(f"{server.base}/imagine")
    region = newest(page, 4)
    expect(region.locator(".state")).to_contain_text("Variations (Region)")
    region_id = region.get_attribute("data-job")

    # Like it, and find it in Organize by a word of its prompt, among the liked.
    region.get_by_role("button", name="♡ Like").click()
    expect(region.get_by_role("button", name="♥ Liked (1)")).to_be_visible()
    page.get_by_role("link", name="Organize").click()
    page.get_by_label("Search prompts").fill("lighthouse")
    page.get_by_label("Liked").check()
    page.get_by_role("button", name="Filter").click()
    found = page.locator("li.card")
    expect(found).to_have_count(1)
    expect(found.first).to_have_attribute("data-job", str(region_id))
    expect(found.first.locator(".badges")).to_contain_text("Unpublished")

    # Ben sees none of it: not in Explore, not by its link.
    ben = browser.new_context().new_page()
    sign_in(ben, server, "ben")
    ben.goto(f"{server.base}/explore")
    expect(ben.locator(f'li.card[data-job="{region_id}"]')).to_have_count(0)
    assert ben.request.get(f"{server.base}{private_link}").status == 404

    # Published, it is in Ben's Explore, and he can take its prompt to his Create page.
    found.first.get_by_role("checkbox").check()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator("#bulk-status")).to_have_text("Published: 1")
    ben.reload()
    shared = ben.locator(f'li.card[data-job="{region_id}"]')
    expect(shared).to_have_count(1)
    expect(shared.locator(".badges")).to_contain_text("by ada")
    shared.get_by_role("link", name="Use this prompt").click()
    expect(ben.get_by_label("Prompt")).to_have_value(re.compile("a lighthouse at dawn"))

    # The feed survives a reload.
    page.goto(f"{server.base}/imagine")
    expect(page.locator("li.card")).to_have_count(4)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.base}/signin")
    page.goto(f"{server.base}/imagine")
    expect(page).to_have_url(f"{server.base}/signin?next=/imagine")


def test_every_page_fits_a_phone_and_works_by_keyboard(server: Server, browser: Browser) -> None:
    add_user(server, "cyd")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{server.base}/signin")
    # By keyboard alone: the name field has the focus, Tab goes on, Enter submits.
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type("cyd")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.base}/imagine")
    page.get_by_label("Prompt").focus()
    page.keyboard.type("a small red kite --seed 3")
    page.keyboard.press("Enter")
    grid = newest(page, 1)
    grid.get_by_role("button", name="Reuse prompt").click()
    expect(page.get_by_label("Prompt")).to_have_value(re.compile(r"^a small red kite "))
    grid.get_by_role("button", name="U1", exact=True).focus()
    page.keyboard.press("Enter")
    single_id = newest(page, 2).get_attribute("data-job")
    pages = ("/imagine", "/archive", "/explore", "/personalize", "/tune", "/account")
    for path in (*pages, f"/editor/{single_id}"):
        page.goto(f"{server.base}{path}")
        page.wait_for_load_state("load")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than a 390 px phone"
    # The ranking grid too, and a picture is picked with the keyboard.
    page.goto(f"{server.base}/personalize")
    page.get_by_role("link", name="Pick pictures").first.click()
    pick = page.locator(".pick input").first
    pick.focus()
    page.keyboard.press("Space")
    expect(pick).to_be_checked()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the ranking grid is {overflow} px wider than a 390 px phone"
    context.close()


def test_with_remix_on_a_variation_asks_for_the_prompt_first(
    server: Server, browser: Browser
) -> None:
    token = add_user(server, "dora")
    remix = httpx.post(
        f"{server.base}/v3/midjourney/jobs/remix",
        json={"stream": False},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert remix.status_code in (200, 201), remix.text
    page = browser.new_page()
    sign_in(page, server, "dora")
    page.get_by_label("Prompt").fill("a green apple --seed 5")
    page.get_by_role("button", name="Imagine").click()
    grid = newest(page, 1)
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.default_value)
        dialog.accept("a golden pear --seed 5")

    page.once("dialog", answer)
    grid.get_by_role("button", name="V2", exact=True).click()
    varied = newest(page, 2)
    assert asked and asked[0].startswith("a green apple")
    expect(varied.locator(".prompt")).to_contain_text("a golden pear")


def test_a_picture_added_becomes_an_image_prompt_or_opens_in_the_editor(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    add_user(server, "eli")
    picture = tmp_path / "red.png"
    Image.new("RGB", (96, 64), (220, 30, 30)).save(picture)
    page = browser.new_page()
    sign_in(page, server, "eli")
    page.get_by_label("Prompt").fill("a lantern --seed 8")
    page.get_by_label("Add a picture").set_input_files(str(picture))
    expect(page.locator("#upload-status")).to_have_text("Added red.png")
    expect(page.get_by_label("Prompt")).to_have_value(
        re.compile(r"^http://\S+/images/[\w-]+\.png a lantern --seed 8$")
    )
    key = page.get_by_label("Prompt").input_value().split()[0].rsplit("/", 1)[1]
    page.get_by_role("button", name="Imagine").click()
    made = newest(page, 2)  # the upload's card, then the job's
    expect(made.locator(".prompt")).to_contain_text("a lantern")
    # The same picture, to edit: the editor opens on it, and Vary (Region) works on it.
    page.get_by_label("as", exact=True).select_option("edit")
    page.get_by_label("Add a picture").set_input_files(str(picture))
    expect(page).to_have_url(re.compile(r"/editor/\w+$"))
    box = page.locator("#editor-mask").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(f"{server.base}/imagine")
    edited = newest(page, 4)
    expect(edited.locator(".state")).to_contain_text("Variations (Region)")
    # Uploads are private: another user cannot read them.
    add_user(server, "fin")
    assert page.request.get(f"{server.base}/web/images/{key}").status == 200
    assert web_sign_in(server, "fin").http.get(f"/web/images/{key}").status_code == 404


def test_picking_pictures_unlocks_personalization(server: Server, browser: Browser) -> None:
    add_user(server, "pim")
    page = browser.new_page()
    sign_in(page, server, "pim")
    page.get_by_label("Prompt").fill("a blue heart --seed 2")
    page.get_by_role("button", name="Imagine").click()
    newest(page, 1)
    page.get_by_role("link", name="Personalize").click()
    v7 = page.locator("section.profile").filter(has_text="Global V7 Profile")
    expect(v7).to_contain_text("0 / 4 pictures picked")
    v7.get_by_role("link", name="Pick pictures").click()
    # Two pictures a grid: "Next" counts them and brings a new grid, until it unlocks.
    for picked in (2, 4):
        picks = page.locator(".pick input")
        expect(picks.nth(1)).to_be_visible()
        picks.nth(0).check()
        picks.nth(1).check()
        page.get_by_role("button", name="Next").click()
        if picked < 4:
            expect(page.locator("label.progress")).to_contain_text(f"{picked} / 4 pictures picked")
    expect(page.get_by_role("status")).to_contain_text("Unlocked")
    page.get_by_role("link", name="Create").click()
    page.get_by_label("Prompt").fill("a cat --seed 3 --p")
    page.get_by_role("button", name="Imagine").click()
    card = newest(page, 2)
    expect(card).to_contain_text(re.compile(r"--p [a-z][a-z0-9]{6}\b"))
    found = re.search(r"--p ([a-z][a-z0-9]{6})\b", card.inner_text())
    assert found
    page.get_by_role("link", name="Personalize").click()
    expect(v7).to_contain_text("Unlocked")
    expect(v7).to_contain_text(found.group(1))  # its latest code
    expect(page.locator("#codes")).to_contain_text(f"{found.group(1)} · Global V7 Profile")
    # Unlocked, it takes more profiles; deleting one asks first.
    page.get_by_label("Name").fill("Soft light")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Soft light")).to_be_visible()
    page.get_by_role("link", name="← Personalize").click()
    mine = page.locator("section.profile").filter(has_text="Soft light")
    mine.get_by_text("Rename or delete").click()
    asked: list[str] = []

    def keep(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", keep)
    mine.get_by_role("button", name="Delete").click()
    assert asked == ["Delete Soft light? The codes it made keep working."]
    expect(mine).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    mine.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(mine).to_have_count(0)
    page.close()


def test_the_style_tuner_on_a_phone_by_keyboard(server: Server, browser: Browser) -> None:
    """Make a tuner, draw a row, pick look A, and take the code of the pick to Create."""
    add_user(server, "tuner-gus")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, server, "tuner-gus")
    page.get_by_role("link", name="Tune").click()
    page.get_by_label("Prompt").fill("a quiet harbour --v 5.2")
    page.get_by_label("Directions").select_option("16")
    page.get_by_role("button", name="Make tuner").click()
    expect(page).to_have_url(re.compile(r"/tune/[\w-]+$"))
    row = page.locator('li.tune-row[data-direction="0"]')
    pick_a = row.get_by_role("radio", name="A", exact=True)
    expect(pick_a).to_be_disabled()  # nothing to pick before it is drawn
    expect(page.get_by_role("link", name="Use in Create")).to_be_hidden()  # no code yet
    row.get_by_role("button", name="Draw direction 0").focus()
    page.keyboard.press("Enter")
    for side in ("A", "B"):
        look = row.locator(f'figure[data-side="{side}"]')
        expect(look).to_have_attribute("data-status", "completed", timeout=JOB_TIMEOUT_MS)
        expect(look.locator("img")).to_have_attribute("src", IMAGE_LINK)
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=look.locator("img").element_handle()
        )
    expect(row.get_by_role("button", name="Draw direction 0")).to_be_hidden()
    pick_a.focus()
    page.keyboard.press("Space")
    expect(pick_a).to_be_checked()
    code = page.locator("#style-code")
    expect(code).to_have_text(re.compile(r"^--style [0-9a-z]+$"))
    parameter = code.inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the tuner is {overflow} px wider than a 390 px phone"
    page.get_by_role("link", name="Use in Create").click()
    expect(page).to_have_url(re.compile(r"/imagine\?prompt="))
    expect(page.get_by_label("Prompt")).to_have_value(
        re.compile(r"^a quiet harbour .*--v 5\.2.* " + re.escape(parameter) + "$")
    )
    expect(page.locator("#prompt-error")).to_have_text("")
    context.close()
