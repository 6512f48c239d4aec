"""What /settings, /prefer suffix, /prefer option set, /stealth and /public may change, and the
one check that keeps every later prompt valid.

An account's settings, custom suffix and option sets become part of every prompt it submits
(``Submissions.prompt_context``). So a change is checked by parsing a probe prompt with the
account's context as it would be after the change, exactly as the prompt layer will parse the
next real prompt: a value that prompt would refuse (an unknown version, ``--s 1500``, raw mode
on V4, a suffix with text in it) is refused when it is set, in the parser's own words, instead
of breaking every later prompt until the user finds Reset Settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from dreamloom.domain import SpeedMode, Variability, Visibility
from dreamloom.prompt import Prompt, PromptContext, PromptError, parse_prompt
from dreamloom.prompt.names import BUILTIN
from dreamloom.prompt.versions import VERSIONS, parse_niji, parse_version
from dreamloom.service.errors import ServiceError
from dreamloom.service.submissions import settings_as_params

# The /settings panel's stylize buttons (the reference's MJ::Settings::Stylization::N).
STYLIZE_PRESETS: Final[dict[str, int]] = {"low": 50, "med": 100, "high": 250, "very high": 750}
# The version selector's first option: the server's default model (stored as None).
DEFAULT_VERSION_CHOICE: Final = "default"
# How many option sets an account may keep; each is expanded on every prompt it submits.
MAX_OPTION_SETS: Final = 100

# The text the checks parse: any prompt will do; what matters is what the context adds to it.
_PROBE: Final = "settings check"
# A version as the selector names them: "7", "6.1", "niji 6". Anything else (which could
# smuggle more parameters into every prompt, "7 --tile") is refused before parsing.
_VERSION: Final = re.compile(r"(?:niji )?\d+(?:\.\d+)?")
_OPTION_NAME: Final = re.compile(r"[^\s{},\\]+")
# The parser's own text for a version it does not know.
_VERSION_ERROR: Final = f"--version must be one of {', '.join(VERSIONS)}"
_STYLIZE_ERROR: Final = (
    "Stylize must be one of low, med, high, very high (50, 100, 250, 750) or a number "
    "from 0 to 1000"
)


@dataclass(frozen=True)
class SettingsChange:
    """What one /settings interaction changes; None leaves a setting as it is."""

    version: str | None = None  # "7", "6.1", "niji 6", or "default"
    stylize: int | str | None = None  # 0..1000, or a preset name (low, med, high, very high)
    raw: bool | None = None
    personalization: bool | None = None  # on: later prompts get --p
    visibility: Visibility | None = None
    remix: bool | None = None
    variability: Variability | None = None
    speed: SpeedMode | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def stored_changes(change: SettingsChange) -> dict[str, Any]:
    """The change as the account's stored settings keys (``store.accounts.DEFAULT_SETTINGS``)."""
    out: dict[str, Any] = {}
    if change.version is not None:
        value = " ".join(change.version.split()).lower()
        if value == DEFAULT_VERSION_CHOICE:
            out["version"] = None
        elif _VERSION.fullmatch(value):
            out["version"] = _canonical_version(value)
        else:
            raise ServiceError(_VERSION_ERROR)
    if change.stylize is not None:
        out["stylize"] = _stylize(change.stylize)
    if change.raw is not None:
        out["raw"] = change.raw
    if change.personalization is not None:
        out["personalization"] = change.personalization
    if change.visibility is not None:
        out["stealth"] = change.visibility == Visibility.STEALTH
    if change.remix is not None:
        out["remix"] = change.remix
    if change.variability is not None:
        out["variability"] = str(change.variability)
    if change.speed is not None:
        out["mode"] = str(change.speed)
    return out


def _canonical_version(value: str) -> str:
    """ "6.0" is stored as "6", "niji 6" as it is; a version no model has is kept as typed,
    for the parser to refuse in its words ("--niji must be one of 4, 5, 6")."""
    if value.startswith("niji "):
        return parse_niji(value.removeprefix("niji ")) or value
    return parse_version(value) or value


def _stylize(value: int | str) -> int:
    if isinstance(value, bool):
        raise ServiceError(_STYLIZE_ERROR)
    if isinstance(value, int):
        return value  # its range is the parser's to check, in its words
    text = " ".join(value.split()).lower()
    if text in STYLIZE_PRESETS:
        return STYLIZE_PRESETS[text]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    raise ServiceError(_STYLIZE_ERROR)


def check_context(settings: Mapping[str, Any], batch_cap: int, probe: str = _PROBE) -> Prompt:
    """Parse ``probe`` as the account with ``settings`` would submit it; the first prompt, or
    a 400 with the parser's message."""
    context = PromptContext(
        settings=settings_as_params(dict(settings)),
        suffix=str(settings.get("suffix") or ""),
        option_sets=dict(settings.get("option_sets") or {}),
        batch_cap=batch_cap,
    )
    try:
        return parse_prompt(probe, context)[0]
    except PromptError as err:
        raise ServiceError(err.message) from None


def option_name(name: str) -> str:
    """An option set's name as stored: without leading dashes; refused when a prompt could
    not write it as one ``--name`` token or when it is a parameter's name."""
    bare = name.strip().lstrip("-—–")
    if not bare or not _OPTION_NAME.fullmatch(bare):
        raise ServiceError(
            f"Invalid option name {name!r}: one word, without spaces, braces, commas or backslashes"
        )
    if bare in BUILTIN:
        raise ServiceError(f"--{bare} is a parameter: an option cannot take its name")
    return bare


def option_probe(name: str) -> str:
    """A prompt that uses option ``name``, to check what it expands to."""
    return f"{_PROBE} --{name}"


# -- reply texts --------------------------------------------------------------------------------

STEALTH_ON: Final = (
    "Stealth mode turned on! Your new images are unpublished: only you can see them. You can "
    "always switch back with `/public`."
)
PUBLIC_ON: Final = (
    "Public mode turned on! Your new images are published in the gallery. You can always "
    "switch back with `/stealth`."
)


def suffix_text(suffix: str, *, changed: bool) -> str:
    if not suffix:
        if changed:
            return "Custom suffix removed."
        return "You have no custom suffix. Set one with `/prefer suffix`."
    if changed:
        return f"Custom suffix set to ` {suffix}`"
    return f"Current custom suffix: ` {suffix}`"


def option_set_text(name: str, value: str) -> str:
    return f"Custom option `--{name}` set to `{value}`"


def option_removed_text(name: str) -> str:
    return f"Custom option `--{name}` removed."


def option_list_text(option_sets: Mapping[str, str]) -> str:
    if not option_sets:
        return "You have no custom options. Create one with `/prefer option set`."
    lines = [f"`--{name}`: `{value}`" for name, value in sorted(option_sets.items())]
    return "Your custom options:\n" + "\n".join(lines)
