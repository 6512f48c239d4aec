"""The Personalize page without a browser: every form checks the session and its CSRF token,
picks update the count, moodboards take uploads, and refusals show in the service's words."""

from __future__ import annotations

import re
import time

import httpx
from api_helpers import Server, png
from web_helpers import Browserless, add_user, sign_in


def _form(client: Browserless, path: str, **fields: object) -> httpx.Response:
    return client.http.post(path, data={"csrf": client.csrf, **fields})


def _profile_id(page: str, name: str) -> str:
    found = re.search(rf'data-profile="([a-z0-9]+)"[^>]*>\s*<h2[^>]*>{re.escape(name)} ', page)
    assert found, page
    return found.group(1)


def _pictures_to_pick(client: Browserless, profile: str) -> list[str]:
    """The keys of the grid to pick from, once the account's first job has finished."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        grid = client.http.get(f"/personalize/{profile}").text
        shown = re.findall(r'name="shown" value="([^"]+)"', grid)
        if shown:
            return shown
        assert "Make some images first" in grid
        time.sleep(0.5)
    raise AssertionError("no pictures to pick")


def test_signed_out_and_forged_requests_are_refused(server: Server) -> None:
    add_user(server, "pam")
    pam = sign_in(server, "pam")
    page = pam.http.get("/personalize").text
    v7 = _profile_id(page, "Global V7 Profile")
    v6 = _profile_id(page, "Global V6 Profile")
    board = _form(pam, "/personalize/new", name="Mine", kind="moodboard").headers["location"]
    board = board.rsplit("/", 1)[1]
    changes = {
        "/personalize/new": {"name": "Theirs", "kind": "moodboard"},
        "/personalize/defaults": {"default": [v6]},
        f"/personalize/{v7}/picks": {"shown": ["k"], "picked": ["k"]},
        f"/personalize/{board}/rename": {"name": "Theirs"},
        f"/personalize/{board}/delete": {},
        f"/personalize/{board}/pictures": {"links": "k"},
        f"/personalize/{board}/pictures/remove": {"key": "k"},
    }
    anonymous = httpx.Client(base_url=server.base)
    for path in ("/personalize", f"/personalize/{v7}"):
        signed_out = anonymous.get(path)
        assert signed_out.status_code == 303
        assert signed_out.headers["location"] == f"/signin?next={path}"
    for path, fields in changes.items():
        signed_out = anonymous.post(path, data=fields)
        assert signed_out.status_code == 303, path
        assert signed_out.headers["location"].startswith("/signin?next="), path
        forged = pam.http.post(path, data={"csrf": "forged", **fields})
        assert forged.status_code == 403, path
        assert "This form has expired" in forged.text, path
    # Nothing changed: no new moodboard, the same defaults, the board kept its name.
    after = pam.http.get("/personalize").text
    assert "Theirs" not in after and _profile_id(after, "Mine") == board
    assert re.search(rf'name="default" value="{v7}"[^>]*checked', after)


def test_picks_unlock_and_refusals_show_next_to_their_form(server: Server) -> None:
    add_user(server, "pat")
    pat = sign_in(server, "pat")
    made = pat.post("/web/imagine", {"prompt": "a red barn --seed 4"})
    assert made.status_code == 200, made.text
    page = pat.http.get("/personalize").text
    assert "0 / 4 pictures picked" in page
    v7 = _profile_id(page, "Global V7 Profile")
    # A custom profile waits for the global one: the service's words, next to the form.
    early = _form(pat, "/personalize/new", name="Later", kind="custom")
    assert early.status_code == 400
    assert re.search(r'id="custom-error"[^>]*>Unlock your global V7 profile first', early.text)
    shown = _pictures_to_pick(pat, v7)
    skipped = _form(pat, f"/personalize/{v7}/picks", shown=shown, picked=shown[:2], skip="1")
    assert skipped.status_code == 303
    assert "0 / 4 pictures picked" in pat.http.get(f"/personalize/{v7}").text
    picked = _form(pat, f"/personalize/{v7}/picks", shown=shown, picked=shown[:2])
    assert picked.status_code == 303
    assert "2 / 4 pictures picked" in pat.http.get(f"/personalize/{v7}").text
    wrong = _form(pat, f"/personalize/{v7}/picks", shown=shown[:1], picked=["nosuchkey123"])
    assert wrong.status_code == 400
    assert re.search(r'id="picks-error"[^>]*>Picked images must be among those shown', wrong.text)
    undeletable = _form(pat, f"/personalize/{v7}/delete")
    assert undeletable.status_code == 400
    assert f'id="{v7}-error"' in undeletable.text and "cannot be deleted" in undeletable.text


def test_a_moodboard_of_an_upload_works_in_create(server: Server) -> None:
    add_user(server, "peg")
    peg = sign_in(server, "peg")
    made = _form(peg, "/personalize/new", name="Blues", kind="moodboard")
    assert made.status_code == 303
    board = made.headers["location"].rsplit("/", 1)[1]
    empty = _form(peg, f"/personalize/{board}/pictures", links="")
    assert empty.status_code == 400
    assert re.search(r'id="add-error"[^>]*>Choose a picture to upload', empty.text)
    unknown = _form(peg, f"/personalize/{board}/pictures", links="/web/images/nosuchkey123.png")
    assert unknown.status_code == 400
    assert re.search(r'id="add-error"[^>]*>No such image: nosuchkey123', unknown.text)
    assert ">/web/images/nosuchkey123.png</textarea>" in unknown.text  # kept to correct
    added = peg.http.post(
        f"/personalize/{board}/pictures",
        data={"csrf": peg.csrf},
        files={"picture": ("blue.png", png((40, 40), (20, 30, 220)), "image/png")},
    )
    assert added.status_code == 303, added.text
    page = peg.http.get(f"/personalize/{board}").text
    assert "Pictures (1)" in page
    job = peg.post("/web/imagine", {"prompt": f"a cat --seed 2 --p {board}"})
    assert job.status_code == 200, job.text
    prompt = job.json()[0]["prompt"]
    code = re.search(r"--p ([a-z0-9]+)", prompt)
    assert code and code.group(1) != board
    overview = peg.http.get("/personalize").text
    assert code.group(1) in overview  # the moodboard's latest code, and the codes list
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert key
    removed = _form(peg, f"/personalize/{board}/pictures/remove", key=key.group(1))
    assert removed.status_code == 303
    assert "Pictures (0)" in peg.http.get(f"/personalize/{board}").text
    # A link of this server's picture (as Organize shows it) adds it back.
    link = f"{server.base}/web/images/{key.group(1)}.png"
    pasted = _form(peg, f"/personalize/{board}/pictures", links=f"{link}\n")
    assert pasted.status_code == 303, pasted.text
    again = peg.http.get(f"/personalize/{board}").text
    assert "Pictures (1)" in again and f'value="{key.group(1)}"' in again
