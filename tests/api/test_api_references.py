"""Image prompts and references through the API: the links a prompt names are read at
submission (a link that fails is a 400 naming it), their pictures travel in the job's recipe,
and they change the picture; what a model cannot use, and --p, are refused in words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from api_helpers import V3, Client, Files, Server, mask_b64, png, start_server, stop_server


@pytest.fixture(scope="module")
def adapted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose tiny model has the tiny IP-Adapter: every reference kind acts."""
    running = start_server(
        tmp_path_factory.mktemp("adapted"), DREAMLOOM_IP_ADAPTER="tiny", DREAMLOOM_WORKERS="1"
    )
    try:
        yield running
    finally:
        stop_server(running)


def _recipe(server: Server, job_id: str) -> dict[str, object]:
    with server.db() as db:
        (raw,) = db.execute("select recipe from jobs where id = ?", (job_id,)).fetchone()
    recipe: dict[str, object] = json.loads(raw)
    return recipe


def _refused(client: Client, prompt: str) -> str:
    response = client.post("/jobs/imagine", json={"prompt": prompt, "stream": False})
    assert response.status_code == 400, response.text
    message: str = response.json()["error"]
    return message


def _pixels(client: Client, job: dict[str, object]) -> np.ndarray:
    url = job["response"]["attachments"][0]["url"]  # type: ignore[index]
    return np.asarray(client.image(url).convert("RGB"), dtype=float)


def test_an_image_prompt_is_read_at_submission_and_acts(adapted: Server, files: Files) -> None:
    red = png((64, 64), (230, 20, 20))
    files.content["/red.png"] = (red, "image/png")
    alice = adapted.user("ref-alice")
    plain = alice.imagine("a quiet harbour --seed 4")
    prompted = alice.imagine(f"{files.url('/red.png')} a quiet harbour --seed 4 --iw 2")
    assert prompted["status"] == "completed", prompted
    (reference,) = _recipe(adapted, prompted["jobid"])["references"]  # type: ignore[misc]
    assert reference["kind"] == "image" and reference["weight"] == 2.0
    # The picture changed (how colours move with --iw: tests/engine/test_engine_references.py).
    before, after = _pixels(alice, plain), _pixels(alice, prompted)
    assert np.abs(before - after).mean() > 1
    # 🔄 keeps the references.
    again = alice.press(prompted["jobid"], "🔄")
    assert (
        _recipe(adapted, again["jobid"])["references"]
        == _recipe(adapted, prompted["jobid"])["references"]
    )


def test_links_that_cannot_be_read_are_named(adapted: Server, files: Files) -> None:
    bob = adapted.user("ref-bob")
    missing = "https://no-such-host.invalid/a.png"
    assert _refused(bob, f"{missing} a boat").startswith(f"Could not read the image at {missing}: ")
    private = "http://10.1.2.3/b.png"
    assert _refused(bob, f"a boat --sref {private}").startswith(
        f"Could not read the image at {private}: "
    )
    gone = files.url("/nothing-here.png")
    assert gone in _refused(bob, f"a boat --cref {gone} --v 6.1")


def test_sref_random_shows_the_code_it_picked(adapted: Server) -> None:
    carl = adapted.user("ref-carl")
    job = carl.imagine("a teapot --sref random")
    assert job["status"] == "completed", job
    prompt = job["response"]["content"]
    code = prompt.split("--sref ")[1].split()[0].strip("*")
    assert code.isdigit()
    (reference,) = _recipe(adapted, job["jobid"])["references"]  # type: ignore[misc]
    assert reference["kind"] == "style" and reference["code"] == int(code)


def test_the_servers_own_pictures_are_read_from_disk_for_whom_may_see_them(
    adapted: Server,
) -> None:
    dana, eve = adapted.user("ref-dana"), adapted.user("ref-eve")
    public = dana.imagine("a green field --seed 2")
    secret = dana.imagine("a secret garden --seed 3 --stealth")
    public_url = public["response"]["imageUx"][0]["url"]
    secret_url = secret["response"]["imageUx"][0]["url"].split("?")[0]
    reused = eve.imagine(f"{public_url} a field at night --seed 2")
    assert reused["status"] == "completed", reused
    assert f"Could not read the image at {secret_url}: " in _refused(eve, f"{secret_url} a garden")


def test_p_without_rankings_gets_the_seeds_words(adapted: Server) -> None:
    fay = adapted.user("ref-fay")
    assert _refused(fay, "a cat --p") == "Not enough ratings"


def test_a_model_without_an_adapter_refuses_references(server: Server, files: Files) -> None:
    gus = server.user("ref-gus")
    files.content["/blue.png"] = (png((32, 32), (10, 10, 220)), "image/png")
    message = _refused(gus, "a boat --sref 123")
    assert message.startswith("The model tiny cannot use --sref: it has no image adapter")
    assert "cannot use image prompts" in _refused(gus, f"{files.url('/blue.png')} a boat")


def test_imagine_with_links_answers_v3_shapes(
    adapted: Server, files: Files, tmp_path: Path
) -> None:
    files.content["/green.png"] = (png((48, 48), (20, 200, 20)), "image/png")
    hal = adapted.user("ref-hal")
    response = hal.post(
        "/jobs/imagine",
        json={"prompt": f"a lamp --sref {files.url('/green.png')}::2", "stream": False},
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "created"
    done = hal.wait(response.json()["jobid"])
    assert done["status"] == "completed"
    assert V3  # the helper's prefix is what the client used


def test_an_upload_is_a_private_picture_for_prompts_and_buttons(adapted: Server) -> None:
    ivy, jon = adapted.user("ref-ivy"), adapted.user("ref-jon")
    made = ivy.http.post(
        "/native/uploads",
        files={"imageBlob": ("face.png", png((80, 120), (200, 160, 120)), "image/png")},
        data={"prompt": "a portrait"},
    )
    assert made.status_code == 201, made.text
    upload = made.json()
    assert (upload["width"], upload["height"]) == (80, 120)
    assert "Vary (Region)" in upload["buttons"]
    styled = ivy.imagine(f"a portrait in oils --sref {upload['url']} --seed 1")
    assert styled["status"] == "completed", styled
    (reference,) = _recipe(adapted, styled["jobid"])["references"]  # type: ignore[misc]
    assert reference["kind"] == "style"
    # The picture's own buttons work on it.
    varied = ivy.press(upload["jobid"], "Vary (Subtle)")
    assert varied["status"] == "completed", varied
    # Private: nobody else reads it, by link or in a prompt.
    assert jon.http.get(upload["url"]).status_code == 404
    assert f"Could not read the image at {upload['url']}" in _refused(jon, f"{upload['url']} x")
    junk = ivy.http.post("/native/uploads", files={"imageBlob": ("x.png", b"not a picture")})
    assert junk.status_code == 400


def test_vary_region_is_refused_on_images_made_with_oref(adapted: Server, files: Files) -> None:
    files.content["/cup.png"] = (png((64, 64), (120, 80, 40)), "image/png")
    kai = adapted.user("ref-kai")
    grid = kai.imagine(f"a hedgehog drinking coffee --oref {files.url('/cup.png')} --seed 3")
    assert grid["status"] == "completed", grid
    single = kai.press(grid["jobid"], "U1")  # the rule follows the picture down a split
    body = {
        "jobId": single["jobid"],
        "button": "Vary (Region)",
        "mask": mask_b64((64, 64), (8, 8, 32, 32)),
        "stream": False,
    }
    refused = kai.post("/jobs/button", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == (
        "Vary (Region) cannot be used on images made with --oref, "
        "even after removing --oref from the prompt"
    )
