"""The open_nsfw classifier, run for real (ONNX on the CPU) on generated pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dreamloom.safety import IMAGE_FILTERED, ImageModerator


def landscape() -> Image.Image:
    """A benign picture: sky gradient over green hills."""
    height, width = 192, 256
    rows = np.linspace(0.0, 1.0, height)[:, None]
    sky = np.stack([90 + 80 * rows, 150 + 60 * rows, 235 - 20 * rows], axis=-1)
    pixels = np.broadcast_to(sky, (height, width, 3)).copy()
    x = np.arange(width)
    hills = (130 + 18 * np.sin(x / 23.0)).astype(int)
    for column, top in enumerate(hills):
        pixels[top:, column] = (50, 130, 60)
    return Image.fromarray(pixels.astype(np.uint8), mode="RGB")


@pytest.fixture(scope="module")
def moderator() -> ImageModerator:
    return ImageModerator()


def test_benign_picture_scores_low_and_passes(moderator: ImageModerator) -> None:
    score = moderator.score(landscape())
    assert isinstance(score, float)
    assert 0.0 <= score <= 1.0
    assert score < 0.2
    verdict = moderator.check(landscape())
    assert verdict.allowed
    assert verdict.reason is None
    assert verdict.score == pytest.approx(score)


def test_scores_are_deterministic_and_accept_any_mode(moderator: ImageModerator) -> None:
    picture = landscape()
    assert moderator.score(picture) == moderator.score(picture.copy())
    for mode in ("RGBA", "L", "P"):
        assert 0.0 <= moderator.score(picture.convert(mode)) <= 1.0


def test_threshold_decides(moderator: ImageModerator) -> None:
    score = moderator.score(landscape())
    strict = ImageModerator(threshold=score / 2)
    verdict = strict.check(landscape())
    assert not verdict.allowed
    assert verdict.reason == IMAGE_FILTERED == "Request cancelled due to image filters"
    assert verdict.category == "nsfw"
    assert verdict.score == pytest.approx(score)
    # At exactly the threshold the image is blocked: the threshold is the first score refused.
    assert not ImageModerator(threshold=score).check(landscape()).allowed


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.01])
def test_threshold_must_be_a_probability(threshold: float) -> None:
    with pytest.raises(ValueError):
        ImageModerator(threshold=threshold)


def test_model_is_loaded_once_on_first_use() -> None:
    moderator = ImageModerator()
    assert moderator._classifier is None  # constructing costs nothing
    moderator.score(landscape())
    loaded = moderator._classifier
    assert loaded is not None
    moderator.score(landscape())
    assert moderator._classifier is loaded


def test_batched_scores_match_single_ones_and_one_blocked_image_blocks_all(
    moderator: ImageModerator,
) -> None:
    pictures = [landscape(), landscape().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    singles = [moderator.score(p) for p in pictures]
    assert moderator.scores(pictures) == pytest.approx(singles, abs=1e-5)
    assert moderator.scores([]) == []
    verdict = moderator.check_all(pictures)
    assert verdict.allowed and verdict.score == pytest.approx(max(singles), abs=1e-5)
    strict = ImageModerator(threshold=min(singles))
    blocked = strict.check_all(pictures)
    assert not blocked.allowed
    assert blocked.reason == IMAGE_FILTERED
