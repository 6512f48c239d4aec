"""Image references: what conditions a generation besides its text.

Image prompts (`--iw`), style references (`--sref` links and codes, `--sw`, `--sv`), character
references (`--cref`, `--cw`), omni references (`--oref`, `--ow`) and personalization (`--p`)
all reach a backend the same way: as `Reference`s in the recipe. A reference is either a picture
(bytes fetched or read by the service at submission, so a worker never touches the network) or
a code (a number that stands for a deterministic vector in the model's conditioning space).

This module is pure: the service resolves links and profiles to bytes, `references_for` turns a
parsed prompt and those bytes into the recipe's references, and each backend decides how a
reference of each kind conditions its model.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from dreamloom.prompt.style_codes import style_parts

if TYPE_CHECKING:
    from dreamloom.prompt import Prompt


class ReferenceKind(StrEnum):
    IMAGE = "image"  # an image prompt: content and composition
    STYLE = "style"  # --sref (links or codes), --style codes: look, not content
    CHARACTER = "character"  # --cref: a person or creature to keep
    OMNI = "omni"  # --oref: a character or object to put in the picture
    PERSONAL = "personal"  # --p: a personalization profile or moodboard


# `--sw` 100, `--ow` 100 and `--iw` 1 are each parameter's default: the model's standard strength.
STANDARD_STYLE_WEIGHT = 100
STANDARD_OMNI_WEIGHT = 100
STANDARD_PERSONAL_STYLIZE = 100
# The code versions that keep Style Tuner looks and Niji's named styles apart from `--sref`
# codes (whose versions are `--sv`): one code, one vector per (kind, code, version).
TUNER_CODE_VERSION = 1052
NAMED_STYLE_VERSION = 1053
# `--cw 0` keeps only the face: the upper middle of the picture, this share of each side.
FACE_SHARE = 0.4


@dataclass(frozen=True)
class Reference:
    """One conditioning picture or code, with the strength it acts with.

    ``weight`` is relative to the model's standard strength for the kind (1.0 = the parameter's
    default). References of weight 0 are never built: `--sw 0` must equal no reference."""

    kind: ReferenceKind
    weight: float
    image: bytes | None = field(default=None, repr=False)
    code: int | None = None
    # The mapping version of a code (`--sv` for style codes): one code, one vector per version.
    code_version: int = 0
    # CHARACTER only: the share of each side kept, around the picture's upper middle (`--cw`).
    crop: float = 1.0

    def __post_init__(self) -> None:
        if (self.image is None) == (self.code is None):
            raise ValueError("a reference is either an image or a code")
        if not self.weight > 0:
            raise ValueError("a reference's weight must be positive")
        if not 0.0 < self.crop <= 1.0:
            raise ValueError("a reference's crop must lie in (0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "weight": self.weight,
            "image": None if self.image is None else base64.b64encode(self.image).decode("ascii"),
            "code": self.code,
            "code_version": self.code_version,
            "crop": self.crop,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reference:
        image = data.get("image")
        return cls(
            kind=ReferenceKind(data["kind"]),
            weight=float(data["weight"]),
            image=None if image is None else base64.b64decode(image),
            code=None if data.get("code") is None else int(data["code"]),
            code_version=int(data.get("code_version", 0)),
            crop=float(data.get("crop", 1.0)),
        )


def _weighted(value: str) -> tuple[str, float]:
    """``"https://x/a.png::2"`` -> (``"https://x/a.png"``, 2.0); no suffix means weight 1."""
    head, sep, tail = value.rpartition("::")
    if sep and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return value, 1.0


def references_for(
    prompt: Prompt,
    images: Mapping[str, bytes],
    personal: Sequence[Reference] = (),
) -> tuple[Reference, ...]:
    """The references a prompt asks for.

    ``images`` holds the bytes of every link the prompt names (image prompts, `--sref` links,
    `--cref`, `--oref`), fetched by the caller; a missing one raises ``KeyError`` (a caller bug:
    links are fetched before recipes are built). ``personal`` is what the account's `--p`
    resolved to (profiles and moodboards), at weight 1; `--stylize` scales it (the FAQ: "it
    also scales the strength of --p personalization").
    """
    params = prompt.params
    refs: list[Reference] = []
    if params.iw > 0:
        refs += [
            Reference(ReferenceKind.IMAGE, params.iw, image=images[u]) for u in prompt.image_prompts
        ]
    style_scale = params.sw / STANDARD_STYLE_WEIGHT
    for entry in params.sref:
        target, part = _weighted(entry)
        weight = style_scale * part
        if weight <= 0:
            continue
        if target.isdigit():
            refs.append(
                Reference(ReferenceKind.STYLE, weight, code=int(target), code_version=params.sv)
            )
        else:
            refs.append(Reference(ReferenceKind.STYLE, weight, image=images[target]))
    refs += style_code_references(params.style)
    crop = FACE_SHARE + (1.0 - FACE_SHARE) * min(max(params.cw, 0), 100) / 100
    refs += [
        Reference(ReferenceKind.CHARACTER, 1.0, image=images[u], crop=crop) for u in params.cref
    ]
    if params.oref is not None and params.ow > 0:
        refs.append(
            Reference(
                ReferenceKind.OMNI, params.ow / STANDARD_OMNI_WEIGHT, image=images[params.oref]
            )
        )
    personal_scale = params.stylize / STANDARD_PERSONAL_STYLIZE
    if personal_scale > 0:
        refs += [
            Reference(r.kind, r.weight * personal_scale, r.image, r.code, r.code_version, r.crop)
            for r in personal
        ]
    return tuple(refs)


def look_code(tuner_seed: int, direction: int, side: int) -> int:
    """The code of one look of a Style Tuner: side A or B of one of its directions."""
    digest = hashlib.sha256(f"tuner {tuner_seed} {direction} {side}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def style_code_references(style: str | None) -> list[Reference]:
    """`--style CODE` (Style Tuner codes, hyphen-joined ones, Niji's named styles) as STYLE
    references: one per look picked, each at the standard weight, so a code of many picks is
    their blend (`engine.conditioning.mix`), not a stronger style."""
    if style is None or style in ("raw", "random"):
        return []
    refs = []
    for part in style_parts(style):
        if isinstance(part, str):
            code = int.from_bytes(hashlib.sha256(f"niji style {part}".encode()).digest()[:6], "big")
            refs.append(
                Reference(ReferenceKind.STYLE, 1.0, code=code, code_version=NAMED_STYLE_VERSION)
            )
            continue
        refs += [
            Reference(
                ReferenceKind.STYLE,
                1.0,
                code=look_code(part.tuner_seed, row, int(side)),
                code_version=TUNER_CODE_VERSION,
            )
            for row, side in part.choices
        ]
    return refs


def links_of(prompt: Prompt) -> tuple[str, ...]:
    """Every link a prompt asks the service to fetch, in order, each once: those whose
    reference would act (a weight of 0 drops a reference, so its picture is not read)."""
    params = prompt.params
    links = [*prompt.image_prompts] if params.iw > 0 else []
    if params.sw > 0:
        links += [
            target
            for target, part in map(_weighted, params.sref)
            if part > 0 and not target.isdigit() and target != "random"
        ]
    links += [*params.cref]
    if params.oref is not None and params.ow > 0:
        links.append(params.oref)
    return tuple(dict.fromkeys(links))
