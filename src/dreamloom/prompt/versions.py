"""Model versions and what each one supports.

The support FAQ lists multi-prompts and --stop for "Versions 1, 2, 3, 4, Niji 4, 5, Niji 5, 6,
Niji 6, and 6.1", character references for "Version 6.0 and 6.1" only, Omni Reference and
--q 1/2/4 for V7 only. Where the seeds say nothing (--sref, --p, --raw, Style Tuner codes, --q on
old models) the table follows the version that introduced the feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .errors import PromptError

DEFAULT_VERSION: Final = "7"
VERSIONS: Final = ("1", "2", "3", "4", "5", "5.1", "5.2", "6", "6.1", "7")
NIJI_VERSIONS: Final = ("4", "5", "6")

# "6.0" is how the FAQ sometimes writes 6; normalise so that one model has one name.
_SPELLINGS: Final = {f"{v}.0": v for v in ("1", "2", "3", "4", "5", "6", "7")}


@dataclass(frozen=True)
class VersionRules:
    version: str  # "7", "5.2", "niji 6"
    multi_prompts: bool
    stop: bool
    quality: tuple[float, ...]
    iw: tuple[float, float]
    raw: bool
    style_codes: bool  # --style <code>: V5.2 Style Tuner codes, Niji styles (cute, scenic, ...)
    sref: bool
    cref: bool
    oref: bool
    personalize: bool
    draft: bool

    @property
    def niji(self) -> bool:
        return self.version.startswith("niji ")

    @property
    def flag(self) -> str:
        """How the version is written in a prompt, as error messages quote it."""
        if self.niji:
            return f"--niji {self.version.removeprefix('niji ')}"
        return f"--version {self.version}"


_OLD_QUALITY: Final = (0.25, 0.5, 1.0)
_V6_QUALITY: Final = (0.25, 0.5, 1.0, 2.0)


def _rules(version: str, family: int, *, niji: bool = False) -> VersionRules:
    v7 = family == 7
    v6 = family == 6
    return VersionRules(
        version=version,
        multi_prompts=not v7,
        stop=not v7,
        quality=(1.0, 2.0, 4.0) if v7 else _V6_QUALITY if v6 or family <= 3 else _OLD_QUALITY,
        # The early FAQ answers "Can an image prompt have a negative weight? Yes, with --iw -0.5";
        # the current FAQ only rules that out for V7, so V1-V3 keep it.
        iw=(0.0, 3.0) if family >= 6 else (-2.0, 2.0) if family <= 3 else (0.0, 2.0),
        raw=version in ("5.1", "5.2") or family >= 6 or (niji and family == 5),
        style_codes=version == "5.2" or (niji and family >= 5),
        sref=family >= 6,
        cref=version in ("6", "6.1"),
        oref=v7,
        personalize=family >= 6,
        draft=v7,
    )


_TABLE: Final[dict[str, VersionRules]] = {
    **{v: _rules(v, int(float(v))) for v in VERSIONS},
    **{f"niji {n}": _rules(f"niji {n}", int(n), niji=True) for n in NIJI_VERSIONS},
}


def rules_for(version: str) -> VersionRules:
    """Rules of a canonical version name such as "7", "6.1" or "niji 6"."""
    try:
        return _TABLE[version]
    except KeyError:
        raise PromptError(f"Unknown model version {version!r}") from None


def parse_version(value: str) -> str | None:
    value = _SPELLINGS.get(value, value)
    return value if value in VERSIONS else None


def parse_niji(value: str) -> str | None:
    value = _SPELLINGS.get(value, value)
    return f"niji {value}" if value in NIJI_VERSIONS else None
