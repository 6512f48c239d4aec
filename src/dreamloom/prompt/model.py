"""The parsed prompt and the account context it is parsed in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import PromptError
from .params import Params
from .permutations import escape


@dataclass(frozen=True)
class WeightedText:
    """One ``::`` part of a multi-prompt."""

    text: str
    weight: float


@dataclass(frozen=True)
class Prompt:
    """One job's prompt: text, its ``::`` parts, leading image prompts and all parameters."""

    text: str  # as typed, whitespace normalised, permutations expanded
    parts: tuple[WeightedText, ...]  # one part of weight 1 without "::"; none if no text
    image_prompts: tuple[str, ...]
    params: Params

    @property
    def positive_parts(self) -> tuple[WeightedText, ...]:
        return tuple(part for part in self.parts if part.weight > 0)

    @property
    def negative_parts(self) -> tuple[WeightedText, ...]:
        return tuple(part for part in self.parts if part.weight < 0)

    def normalized(self) -> str:
        """Canonical text that parses back to this prompt (with the default context).

        Braces and backslashes are escaped, because this text is one job and must not expand
        into permutations again.
        """
        pieces = [*self.image_prompts, self.text, *self.params.to_args()]
        return escape(" ".join(piece for piece in pieces if piece))

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "parts": [{"text": part.text, "weight": part.weight} for part in self.parts],
            "image_prompts": list(self.image_prompts),
            "params": self.params.to_dict(),
            "normalized": self.normalized(),  # for people reading the JSON; ignored on load
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prompt:
        try:
            return cls(
                text=str(data["text"]),
                parts=tuple(
                    WeightedText(str(part["text"]), float(part["weight"])) for part in data["parts"]
                ),
                image_prompts=tuple(str(url) for url in data["image_prompts"]),
                params=Params.from_dict(data["params"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, PromptError):
                raise
            raise PromptError(f"Invalid prompt data: {exc!r}") from None


def _no_option_sets() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class PromptContext:
    """What the account adds to every prompt it submits."""

    settings: str = ""  # /settings as parameter text; lowest precedence
    suffix: str = ""  # /prefer suffix; overrides settings
    option_sets: Mapping[str, str] = field(default_factory=_no_option_sets, hash=False)
    batch_cap: int = 4  # the plan's limit on jobs per submission (permutations x --repeat)

    def __post_init__(self) -> None:
        if self.batch_cap < 1:
            raise ValueError("batch_cap must be at least 1")
