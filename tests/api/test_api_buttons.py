"""Imagine and every button, end to end over HTTP, asserting on the images the server made."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from api_helpers import Client, Server, mask_b64


@pytest.fixture(scope="module")
def alice(server: Server) -> Client:
    return server.user("alice-buttons", plan="pro")


@pytest.fixture(scope="module")
def grid(alice: Client) -> dict[str, Any]:
    job = alice.imagine("a lighthouse at dusk --seed 11")
    assert job["status"] == "completed", job
    return job


@pytest.fixture(scope="module")
def single(alice: Client, grid: dict[str, Any]) -> dict[str, Any]:
    return alice.press(grid["jobid"], "U2")


def _size(alice: Client, job: dict[str, Any]) -> tuple[int, int]:
    attachment = job["response"]["attachments"][0]
    image = alice.image(attachment["url"])
    assert image.size == (attachment["width"], attachment["height"])
    return image.size


def _grid_ok(alice: Client, job: dict[str, Any]) -> tuple[int, int]:
    assert job["status"] == "completed", job
    response = job["response"]
    assert response["buttons"][:9] == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]
    assert [ux["id"] for ux in response["imageUx"]] == [1, 2, 3, 4]
    cell = alice.image(response["imageUx"][0]["url"]).size
    assert _size(alice, job) == (2 * cell[0], 2 * cell[1])
    return cell


def test_imagine_result_has_the_documented_shape(alice: Client, grid: dict[str, Any]) -> None:
    assert grid["verb"] == "imagine" and grid["jobType"] == "image" and grid["code"] == 200
    content = grid["response"]["content"]
    assert content.startswith("**a lighthouse at dusk --ar 1:1") and "--seed 11" in content
    assert content.endswith("<@alice-buttons> (fast)")
    assert grid["response"]["progress_percent"] == 100
    assert _grid_ok(alice, grid) == (64, 64)


def test_u_buttons_split_for_free_and_execute_once(
    server: Server, alice: Client, grid: dict[str, Any], single: dict[str, Any]
) -> None:
    assert single["status"] == "completed" and single["verb"] == "button"
    assert "Image #2" in single["response"]["content"]
    split = alice.image(single["response"]["attachments"][0]["url"])
    cell = alice.image(grid["response"]["imageUx"][1]["url"])
    assert np.array_equal(np.asarray(split), np.asarray(cell))
    again = alice.post(
        "/jobs/button", json={"jobId": grid["jobid"], "button": "U2", "stream": False}
    )
    assert again.status_code == 200 and again.json()["jobid"] == single["jobid"]
    parent = alice.get(f"/jobs/{grid['jobid']}").json()
    assert parent["response"]["executeOnce"]["U2"] == single["jobid"]
    assert single["jobid"] in parent["response"]["children"]
    with server.db() as db:
        (cost,) = db.execute(
            "select cost_seconds from jobs where id = ?", (single["jobid"],)
        ).fetchone()
    assert cost == 0
    assert "Upscale (Subtle)" in single["response"]["buttons"]
    assert "Make Square" not in single["response"]["buttons"]  # square already


@pytest.mark.parametrize("button", ["V1", "V4", "🔄"])
def test_grid_buttons_make_new_grids(alice: Client, grid: dict[str, Any], button: str) -> None:
    job = alice.press(grid["jobid"], button)
    assert _grid_ok(alice, job) == (64, 64)


def test_variations_cost_a_little_less_than_the_grid(
    server: Server, alice: Client, grid: dict[str, Any], single: dict[str, Any]
) -> None:
    subtle = alice.press(single["jobid"], "Vary (Subtle)")
    strong = alice.press(single["jobid"], "Vary (Strong)")
    for job in (subtle, strong):
        _grid_ok(alice, job)
    # Subtle keeps more of the picture than strong: a lower img2img strength. (How much closer
    # the pixels stay is measured in the engine's tests, on a model whose VAE keeps a picture;
    # this server's random tiny model turns any start into noise.)
    with server.db() as db:
        strengths = [
            json.loads(recipe)["strength"]
            for (recipe,) in (
                db.execute("select recipe from jobs where id = ?", (job["jobid"],)).fetchone()
                for job in (subtle, strong)
            )
        ]
    assert 0 < strengths[0] < strengths[1] <= 1
    with server.db() as db:
        rows = dict(
            db.execute(
                "select id, cost_seconds from jobs where id in (?, ?)",
                (grid["jobid"], subtle["jobid"]),
            ).fetchall()
        )
        (grid_gpu,) = db.execute(
            "select gpu_seconds from jobs where id = ?", (grid["jobid"],)
        ).fetchone()
    assert rows[subtle["jobid"]] == pytest.approx(0.85 * grid_gpu)


def test_vary_region_repaints_only_the_mask(alice: Client, single: dict[str, Any]) -> None:
    source = np.asarray(alice.image(single["response"]["attachments"][0]["url"]), float)
    height, width = source.shape[:2]
    box = (width // 4, height // 4, width // 2, height // 2)
    job = alice.press(single["jobid"], "Vary (Region)", mask=mask_b64((width, height), box))
    _grid_ok(alice, job)
    inside = np.zeros(source.shape[:2], bool)
    inside[box[1] : box[3], box[0] : box[2]] = True
    for ux in job["response"]["imageUx"]:
        result = np.asarray(alice.image(ux["url"]), float)
        assert result.shape == source.shape
        # Outside the mask (less a feathered border) the pixels are the original's.
        keep = ~_grown(inside, 4)
        assert np.abs(result[keep] - source[keep]).max() <= 2
        assert np.abs(result[inside] - source[inside]).mean() > 5


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    grown = mask.copy()
    for _ in range(pixels):
        grown[1:] |= grown[:-1]
        grown[:-1] |= grown[1:]
        grown[:, 1:] |= grown[:, :-1]
        grown[:, :-1] |= grown[:, 1:]
    return grown


def test_vary_region_needs_a_mask_that_selects_something(
    alice: Client, single: dict[str, Any]
) -> None:
    body = {"jobId": single["jobid"], "button": "Vary (Region)", "stream": False}
    missing = alice.post("/jobs/button", json=body)
    assert missing.status_code == 400 and "mask" in missing.json()["error"]
    black = alice.post("/jobs/button", json={**body, "mask": mask_b64((64, 64), (0, 0, 0, 0))})
    assert black.status_code == 400 and "selects nothing" in black.json()["error"]


@pytest.mark.parametrize(
    ("button", "extra", "size"),
    [
        ("Zoom Out 2x", {}, (64, 64)),
        ("Zoom Out 1.5x", {}, (64, 64)),
        ("Custom Zoom", {"prompt": "a lighthouse at dusk --zoom 1.8"}, (64, 64)),
        ("⬅️", {}, (96, 64)),
        ("➡️", {}, (96, 64)),
        ("⬆️", {}, (64, 96)),
        ("⬇️", {}, (64, 96)),
    ],
)
def test_outpainting_buttons(
    alice: Client, single: dict[str, Any], button: str, extra: dict[str, Any], size: tuple[int, int]
) -> None:
    job = alice.press(single["jobid"], button, **extra)
    cell = _grid_ok(alice, job)
    if button.startswith("Zoom") or button == "Custom Zoom":
        assert cell[0] >= size[0] and cell[0] == cell[1]
    else:
        assert cell[0] / cell[1] == pytest.approx(size[0] / size[1], rel=0.1)


def test_custom_zoom_needs_a_prompt_with_a_valid_zoom(
    alice: Client, single: dict[str, Any]
) -> None:
    body = {"jobId": single["jobid"], "button": "Custom Zoom", "stream": False}
    assert "prompt" in alice.post("/jobs/button", json=body).json()["error"]
    bad = alice.post("/jobs/button", json={**body, "prompt": "x --zoom 3"})
    assert bad.status_code == 400 and "--zoom" in bad.json()["error"]


def test_make_square_on_a_wide_image(alice: Client) -> None:
    wide = alice.imagine("a long train --ar 2:1 --seed 5")
    split = alice.press(wide["jobid"], "U1")
    assert "Make Square" in split["response"]["buttons"]
    square = alice.press(split["jobid"], "Make Square")
    cell = _grid_ok(alice, square)
    assert cell[0] == cell[1]


def test_upscales_double_the_size_and_cost_twice_the_grid(
    server: Server, alice: Client, grid: dict[str, Any], single: dict[str, Any]
) -> None:
    source = _size(alice, single)
    for button in ("Upscale (Subtle)", "Upscale (Creative)"):
        job = alice.press(single["jobid"], button)
        assert job["status"] == "completed", job
        assert _size(alice, job) == (2 * source[0], 2 * source[1])
        assert "imageUx" not in job["response"]
        assert job["response"]["buttons"] == ["Redo Upscale (Subtle)", "Redo Upscale (Creative)"]
        assert "notes" not in job["response"]  # Real-ESRGAN loads here: no fallback to tell
    subtle = alice.press(single["jobid"], "Upscale (Subtle)")
    redo = alice.press(job["jobid"], "Redo Upscale (Subtle)")
    assert _size(alice, redo) == (2 * source[0], 2 * source[1])
    # A redo is a new take: not the pixels of the upscale it redoes.
    before, after = (
        np.asarray(alice.image(j["response"]["attachments"][0]["url"]), float)
        for j in (subtle, redo)
    )
    assert np.abs(before - after).mean() > 0.5
    # Running Upscale (Creative) again gives a different result (a new seed for its refine).
    again = alice.press(job["jobid"], "Redo Upscale (Creative)")
    first, second = (
        np.asarray(alice.image(j["response"]["attachments"][0]["url"]), float) for j in (job, again)
    )
    assert first.shape == second.shape and np.abs(first - second).mean() > 1
    with server.db() as db:
        (grid_gpu,) = db.execute(
            "select gpu_seconds from jobs where id = ?", (grid["jobid"],)
        ).fetchone()
        (cost,) = db.execute(
            "select cost_seconds from jobs where id = ?", (job["jobid"],)
        ).fetchone()
    assert cost == pytest.approx(2 * grid_gpu)


def test_legacy_versions_upscale_2x_and_4x(alice: Client) -> None:
    legacy = alice.imagine("an old map --v 5.2 --seed 3")
    split = alice.press(legacy["jobid"], "U3")
    assert split["response"]["buttons"][:2] == ["Upscale (2x)", "Upscale (4x)"]
    source = _size(alice, split)
    four = alice.press(split["jobid"], "Upscale (4x)")
    assert _size(alice, four) == (4 * source[0], 4 * source[1])
    assert four["response"]["buttons"] == ["Redo Upscale (2x)", "Redo Upscale (4x)"]
    two = alice.press(four["jobid"], "Redo Upscale (2x)")
    assert _size(alice, two) == (2 * source[0], 2 * source[1])


def test_old_versions_offer_make_variations_and_remaster(alice: Client) -> None:
    old = alice.imagine("a castle --v 3 --seed 9")
    assert "Remaster" in old["response"]["buttons"]
    remaster = alice.press(old["jobid"], "Remaster")
    _grid_ok(alice, remaster)
    split = alice.press(old["jobid"], "U1")
    assert split["response"]["buttons"][0] == "Make Variations"
    _grid_ok(alice, alice.press(split["jobid"], "Make Variations"))


def test_remix_edits_the_prompt_only_when_remix_is_on(alice: Client, grid: dict[str, Any]) -> None:
    body = {"jobId": grid["jobid"], "button": "V2", "prompt": "a red lighthouse", "stream": False}
    off = alice.post("/jobs/button", json=body)
    assert off.status_code == 400 and "Remix mode is off" in off.json()["error"]
    toggled = alice.run("/jobs/remix", {})
    assert toggled["response"]["settings"] == {"remix": True}
    job = alice.wait(alice.submit("/jobs/button", body)["jobid"])
    assert job["response"]["content"].startswith("**a red lighthouse")
    assert alice.run("/jobs/remix", {})["response"]["settings"] == {"remix": False}


def test_video_buttons_and_unavailable_buttons_are_refused(
    alice: Client, grid: dict[str, Any], single: dict[str, Any]
) -> None:
    for button in ("Animate (High motion)", "Extend (Low motion)"):
        response = alice.post(
            "/jobs/button", json={"jobId": single["jobid"], "button": button, "stream": False}
        )
        assert response.status_code == 400
        assert "not supported on this server" in response.json()["error"]
    wrong = alice.post(
        "/jobs/button", json={"jobId": grid["jobid"], "button": "Upscale (Subtle)", "stream": False}
    )
    assert wrong.status_code == 400 and "not available" in wrong.json()["error"]
    missing = alice.post("/jobs/button", json={"button": "U1", "stream": False})
    assert missing.status_code == 400 and missing.json() == {"error": "jobId is required"}
    unknown = alice.post("/jobs/button", json={"jobId": "nope", "button": "U1", "stream": False})
    assert unknown.status_code == 404 and unknown.json() == {"error": "Parent job not found"}


def test_seed_is_execute_once_with_the_four_images(alice: Client, grid: dict[str, Any]) -> None:
    seed = alice.wait(alice.submit("/jobs/seed", {"jobId": grid["jobid"]})["jobid"])
    assert seed["verb"] == "seed" and "jobType" not in seed
    assert seed["response"]["seed"] == 11
    assert "**seed** 11" in seed["response"]["content"]
    assert len(seed["response"]["attachments"]) == 4
    again = alice.post("/jobs/seed", json={"jobId": grid["jobid"], "stream": False})
    assert again.status_code == 200 and again.json()["jobid"] == seed["jobid"]
