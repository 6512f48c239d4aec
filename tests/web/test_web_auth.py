"""The web app's sign-in, sessions, CSRF and who may see what, over plain HTTP."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
from api_helpers import Server
from PIL import Image
from web_helpers import PASSWORD, Browserless, add_user, sign_in, signin_token


def _finished(client: Browserless, job_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        card: dict[str, Any] = client.http.get(f"/web/jobs/{job_id}").json()
        if card["terminal"]:
            return card
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish")


def test_signed_out_browsers_get_the_sign_in_page_and_scripts_401(server: Server) -> None:
    http = httpx.Client(base_url=server.base)
    for page in ("/imagine", "/account"):
        response = http.get(page)
        assert response.status_code == 303
        assert response.headers["location"] == f"/signin?next={page}"
    assert http.get("/").headers["location"] == "/signin"
    for path in ("/web/jobs/x", "/web/images/x.png", "/web/previews/x.png", "/web/events"):
        assert http.get(path).status_code == 401, path
    assert http.post("/web/imagine", json={"prompt": "a cat"}).status_code == 401
    assert http.post("/signout", data={"csrf": "x"}).status_code == 303  # to the sign-in page


def test_wrong_passwords_and_unknown_names_get_the_same_answer(server: Server) -> None:
    add_user(server, "wanda")
    http = httpx.Client(base_url=server.base)
    for name, password in (("wanda", "not her password"), ("nobody", PASSWORD)):
        token = signin_token(http.get("/signin").text)
        response = http.post("/signin", data={"name": name, "password": password, "csrf": token})
        assert response.status_code == 401
        assert "Wrong name or password" in response.text
        assert 'id="signin-error"' in response.text  # shown next to the field
        assert "dreamloom_session" not in response.headers.get("set-cookie", "")


def test_sign_in_needs_the_forms_own_token(server: Server) -> None:
    add_user(server, "cora")
    http = httpx.Client(base_url=server.base)
    http.get("/signin")
    response = http.post("/signin", data={"name": "cora", "password": PASSWORD, "csrf": "forged"})
    assert response.status_code == 403
    assert "dreamloom_session" not in response.headers.get("set-cookie", "")


def test_the_session_cookie_is_httponly_and_samesite(server: Server) -> None:
    add_user(server, "hugo")
    http = httpx.Client(base_url=server.base)
    token = signin_token(http.get("/signin").text)
    response = http.post(
        "/signin", data={"name": "hugo", "password": PASSWORD, "csrf": token, "next": "/account"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/account"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "dreamloom_session" in c)
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    # A "next" that leaves the site is not followed.
    token = signin_token(httpx.get(f"{server.base}/signin").text)
    other = httpx.Client(base_url=server.base)
    token = signin_token(other.get("/signin").text)
    away = other.post(
        "/signin",
        data={"name": "hugo", "password": PASSWORD, "csrf": token, "next": "//evil.example/"},
    )
    assert away.headers["location"] == "/imagine"


def test_changes_need_the_sessions_csrf_token(server: Server) -> None:
    add_user(server, "ivy")
    client = sign_in(server, "ivy")
    refused = client.http.post("/web/imagine", json={"prompt": "a cat"})
    assert refused.status_code == 403
    wrong = client.http.post(
        "/web/imagine", json={"prompt": "a cat"}, headers={"X-CSRF-Token": "not it"}
    )
    assert wrong.status_code == 403
    signout = client.http.post("/signout", data={"csrf": "not it"})
    assert signout.status_code == 403
    assert client.http.get("/imagine").status_code == 200  # still signed in


def test_bad_prompts_get_the_parsers_words(server: Server) -> None:
    add_user(server, "pia")
    client = sign_in(server, "pia")
    check = client.http.get("/web/prompt-check", params={"prompt": "a cat --ar 3"}).json()
    assert check["error"] == "--ar must be width:height in whole numbers above 0, such as --ar 16:9"
    response = client.post("/web/imagine", {"prompt": "a cat --ar 3"})
    assert response.status_code == 400
    assert response.json()["error"] == check["error"]
    fine = client.http.get("/web/prompt-check", params={"prompt": "a {red, blue} cat"}).json()
    assert fine["error"] is None and len(fine["prompts"]) == 2


def test_users_see_their_own_jobs_and_others_only_when_public(server: Server) -> None:
    add_user(server, "olga")
    add_user(server, "paul")
    olga, paul = sign_in(server, "olga"), sign_in(server, "paul")
    private = olga.post("/web/imagine", {"prompt": "a secret garden --seed 4 --stealth"}).json()[0]
    public = olga.post("/web/imagine", {"prompt": "a public park --seed 5"}).json()[0]
    private, public = _finished(olga, private["id"]), _finished(olga, public["id"])
    assert private["status"] == public["status"] == "completed"
    grid = olga.http.get(private["image"]["url"])
    assert grid.status_code == 200
    # The files say what they are: prompt, seed and job id in their text chunks.
    text = Image.open(io.BytesIO(grid.content)).text
    assert text["Prompt"].startswith("a secret garden") and "--seed 4" in text["Prompt"]
    assert text["Seed"] == "4" and text["Job ID"] == private["id"]
    single = Image.open(io.BytesIO(olga.http.get(private["pictures"][1]["url"]).content)).text
    assert single["Job ID"] == private["id"] and single["Seed"].isdigit()  # its own seed
    # Another user: not the private job, nor its image; the public image is for everyone.
    assert paul.http.get(f"/web/jobs/{private['id']}").status_code == 404
    assert paul.http.get(private["image"]["url"]).status_code == 404
    assert paul.http.get(public["image"]["url"]).status_code == 200
    # Signed out: nothing at all.
    assert httpx.get(f"{server.base}{private['image']['url']}").status_code == 401
    assert httpx.get(f"{server.base}{public['image']['url']}").status_code == 401
    # Paul's feed holds none of Olga's jobs.
    assert private["id"] not in paul.http.get("/imagine").text


def test_sign_out_ends_the_session(server: Server) -> None:
    add_user(server, "sven")
    client = sign_in(server, "sven")
    cookie = client.http.cookies.get("dreamloom_session")
    response = client.http.post("/signout", data={"csrf": client.csrf})
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    # The old cookie, replayed, signs no one in.
    replay = httpx.get(f"{server.base}/imagine", cookies={"dreamloom_session": str(cookie)})
    assert replay.status_code == 303


def test_changing_the_password_signs_other_browsers_out(server: Server) -> None:
    add_user(server, "tess")
    here, elsewhere = sign_in(server, "tess"), sign_in(server, "tess")
    wrong = here.http.post(
        "/account/password", data={"csrf": here.csrf, "current": "nope", "new": "a new secret"}
    )
    assert wrong.status_code == 400 and "The current password is wrong" in wrong.text
    short = here.http.post(
        "/account/password", data={"csrf": here.csrf, "current": PASSWORD, "new": "short"}
    )
    assert short.status_code == 400 and "at least 8 characters" in short.text
    done = here.http.post(
        "/account/password", data={"csrf": here.csrf, "current": PASSWORD, "new": "a new secret"}
    )
    assert done.status_code == 200 and "Your password was changed" in done.text
    assert here.http.get("/imagine").status_code == 200
    assert elsewhere.http.get("/imagine").status_code == 303
    sign_in(server, "tess", "a new secret")
