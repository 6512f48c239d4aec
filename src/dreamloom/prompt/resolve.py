"""From the parameters as typed to a validated ``Params``.

Ranges and messages follow the support FAQ: "--stylize must be between 0 and 1000 with
--version 7" is the pattern for every ranged parameter, and "Not compatible with --version 7"
for anything a model version does not support. Values that are not numbers at all get the same
range message, because it says what would have been accepted.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from .errors import PromptError
from .names import BUILTIN, CANONICAL, VIDEO, slot_of
from .params import SPEEDS, Params
from .style_codes import NIJI_STYLES, random_style, style_parts
from .tokens import RawParam
from .values import format_number, link, parse_float, parse_int
from .versions import (
    DEFAULT_VERSION,
    NIJI_VERSIONS,
    VERSIONS,
    VersionRules,
    parse_niji,
    parse_version,
    rules_for,
)

MAX_SEED: Final = 4294967295
MAX_REPEAT: Final = 40  # the largest batch of any plan (Pro and Mega)
# The seeds give no limit on --ar; past 14:1 an image at any model's native area is a strip a
# few latent cells tall, which no model can draw.
MAX_RATIO: Final = 14

VIDEO_MESSAGE: Final = "Video is not supported on this server yet"

_LONG_NAMES: Final = {"aspect": "ar", "personalize": "p"}
_ASPECT: Final = re.compile(r"(\d{1,6}):(\d{1,6})")
_CODE: Final = re.compile(r"[\w@<>!.-]+", re.ASCII)  # --p codes, profile ids, Discord mentions
_STYLE: Final = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")  # "code", "code1-code2", "cute"
_NUMBER_CODE: Final = re.compile(r"\d{1,10}")


@dataclass(frozen=True)
class Arg:
    key: str  # canonical parameter
    name: str  # as typed, without the dashes
    values: tuple[str, ...]


def collect(params: Iterable[RawParam]) -> dict[str, Arg]:
    """Known parameters of one source (prompt, suffix or settings), keyed by slot.

    Giving a parameter twice in one source is an error rather than "last wins": "--s 50 ...
    --s 750" is almost always a leftover, and silently dropping one value hides it.
    """
    out: dict[str, Arg] = {}
    for raw in params:
        if raw.name in VIDEO:
            raise PromptError(VIDEO_MESSAGE)
        key = CANONICAL.get(raw.name)
        if key is None:
            hint = " (parameters must be lowercase)" if raw.name.lower() in BUILTIN else ""
            raise PromptError(f"unrecognized argument: --{raw.name}{hint}")
        slot = slot_of(key)
        previous = out.get(slot)
        if previous is not None:
            if previous.name == raw.name:
                raise PromptError(f"--{raw.name} is given more than once")
            if previous.key == key:
                raise PromptError(
                    f"--{previous.name} and --{raw.name} are the same parameter: give it once"
                )
            raise PromptError(f"--{previous.name} and --{raw.name} can't be used together")
        out[slot] = Arg(key, raw.name, raw.values)
    return out


def resolve_params(args: Mapping[str, Arg]) -> Params:
    """Validate merged arguments (slot -> Arg) against the chosen model version."""
    rules = _version(args.get("version"))
    get = args.get

    _supported(get("stop"), rules.stop, rules)
    _supported(get("personalize"), rules.personalize, rules)
    _supported(get("draft"), rules.draft, rules)

    # A weight without its reference: "You can only use the character weight parameter if you
    # have a character reference" (support FAQ), and the same for style and omni references.
    for reference, weights, supported in (
        ("sref", ("sw", "sv"), rules.sref),
        ("cref", ("cw",), rules.cref),
        ("oref", ("ow",), rules.oref),
    ):
        _supported(get(reference), supported, rules)
        for weight in weights:
            arg = get(weight)
            _supported(arg, supported, rules)
            if arg is not None and reference not in args:
                raise PromptError(f"--{arg.name} can only be used together with --{reference}")

    visibility = get("visibility")
    speed = get("speed")
    for flag in (get("tile"), get("draft"), visibility, speed):
        _no_value(flag)
    seed_arg = get("seed")
    seed = None if seed_arg is None else _int(seed_arg, 0, 0, MAX_SEED, rules)
    raw, style = _style(get("raw"), get("style"), rules, seed)

    return Params(
        aspect=_aspect(get("aspect"), rules),
        chaos=_int(get("chaos"), 0, 0, 100, rules),
        stylize=_int(get("stylize"), 100, 0, 1000, rules),
        quality=_quality(get("quality"), rules),
        repeat=_int(get("repeat"), 1, 1, MAX_REPEAT, rules),
        version=rules.version,
        niji=rules.niji,
        raw=raw,
        style=style,
        no=_no(get("no")),
        seed=seed,
        stop=_int(get("stop"), 100, 10, 100, rules),
        tile="tile" in args,
        weird=_int(get("weird"), 0, 0, 3000, rules),
        iw=_float(get("iw"), 1.0, *rules.iw, rules),
        sref=_sref(get("sref"), seed),
        sw=_int(get("sw"), 100, 0, 1000, rules),
        sv=_int(get("sv"), 6, 1, 6, rules),
        cref=_links(get("cref")),
        cw=_int(get("cw"), 100, 0, 100, rules),
        oref=_one_link(get("oref")),
        ow=_int(get("ow"), 100, 0, 1000, rules),
        personalize=_codes(get("personalize")),
        draft="draft" in args,
        stealth=None if visibility is None else visibility.key == "stealth",
        speed=None if speed is None else next(s for s in SPEEDS if s == speed.key),
    )


def _long(key: str) -> str:
    return "--" + _LONG_NAMES.get(key, key)


def _version(arg: Arg | None) -> VersionRules:
    if arg is None:
        return rules_for(DEFAULT_VERSION)
    if arg.key == "version" and arg.values[:1] == ("niji",):
        # The settings menu names Niji models "niji 6"; "--v niji 6" is that name typed out.
        arg = Arg("niji", arg.name, arg.values[1:])
    value = _one_value(arg)
    if arg.key == "niji":
        version = f"niji {NIJI_VERSIONS[-1]}" if value is None else parse_niji(value)
        if version is None:
            raise PromptError(f"--niji must be one of {', '.join(NIJI_VERSIONS)}")
    else:
        version = None if value is None else parse_version(value)
        if version is None:
            raise PromptError(f"--version must be one of {', '.join(VERSIONS)}")
    return rules_for(version)


def _one_value(arg: Arg) -> str | None:
    if len(arg.values) > 1:
        raise PromptError(
            f'--{arg.name} takes one value, not "{" ".join(arg.values)}" '
            "(parameters go at the end of the prompt)"
        )
    return arg.values[0] if arg.values else None


def _no_value(arg: Arg | None) -> None:
    if arg is not None and arg.values:
        raise PromptError(
            f'--{arg.name} takes no value, not "{" ".join(arg.values)}" '
            "(parameters go at the end of the prompt)"
        )


def _supported(arg: Arg | None, supported: bool, rules: VersionRules) -> None:
    if arg is not None and not supported:
        raise PromptError(f"Not compatible with {rules.flag}: --{arg.name}")


def _range_error(key: str, low: float, high: float, rules: VersionRules) -> PromptError:
    return PromptError(
        f"{_long(key)} must be between {format_number(low)} and {format_number(high)} "
        f"with {rules.flag}"
    )


def _int(arg: Arg | None, default: int, low: int, high: int, rules: VersionRules) -> int:
    if arg is None:
        return default
    value = _one_value(arg)
    number = None if value is None else parse_int(value)
    if number is None or not low <= number <= high:
        raise _range_error(arg.key, low, high, rules)
    return number


def _float(arg: Arg | None, default: float, low: float, high: float, rules: VersionRules) -> float:
    if arg is None:
        return default
    value = _one_value(arg)
    number = None if value is None else parse_float(value)
    if number is None or not low <= number <= high:
        raise _range_error(arg.key, low, high, rules)
    return number + 0.0  # no -0.0: it would print as "0" and compare unequal in to_dict


def _quality(arg: Arg | None, rules: VersionRules) -> float:
    if arg is None:
        return 1.0
    value = _one_value(arg)
    number = None if value is None else parse_float(value)
    if number is None or number not in rules.quality:
        allowed = ", ".join(format_number(q) for q in rules.quality)
        raise PromptError(f"--quality must be one of {allowed} with {rules.flag}")
    return number


def _aspect(arg: Arg | None, rules: VersionRules) -> tuple[int, int]:
    if arg is None:
        return (1, 1)
    value = _one_value(arg)
    match = None if value is None else _ASPECT.fullmatch(value)
    width, height = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if width == 0 or height == 0:
        raise PromptError("--ar must be width:height in whole numbers above 0, such as --ar 16:9")
    divisor = math.gcd(width, height)
    width, height = width // divisor, height // divisor
    if max(width, height) > MAX_RATIO * min(width, height):
        raise PromptError(f"--ar must be between 1:{MAX_RATIO} and {MAX_RATIO}:1 with {rules.flag}")
    return (width, height)


def _style(
    raw: Arg | None, style: Arg | None, rules: VersionRules, seed: int | None
) -> tuple[bool, str | None]:
    _no_value(raw)
    is_raw = raw is not None
    code = None
    if style is not None:
        value = _one_value(style)
        if value is None or not _STYLE.fullmatch(value):
            raise PromptError(f'--style takes raw or a style code, not "{value or ""}"')
        if value.lower() == "raw":
            is_raw = True
        else:
            _supported(style, rules.style_codes, rules)
            code = _style_code(value, rules, seed)
    if is_raw and not rules.raw:
        raise PromptError(f"Not compatible with {rules.flag}: --{'raw' if raw else 'style raw'}")
    return is_raw, code


def _style_code(value: str, rules: VersionRules, seed: int | None) -> str:
    """A `--style` value checked: Style Tuner codes on V5.2 (``random`` picks one, from the
    seed when there is one), the named styles on Niji."""
    if value.lower() == "random" and not rules.niji:
        return "random" if seed is None else random_style(seed)
    try:
        parts = style_parts(value)
    except ValueError as err:
        if rules.niji:
            names = ", ".join(NIJI_STYLES)
            raise PromptError(
                f'--style with {rules.flag} takes raw or {names}, not "{err}"'
            ) from None
        raise PromptError(
            f'"{err}" is not a style code: make one with /tune, or use --style random'
        ) from None
    named = [part for part in parts if isinstance(part, str)]
    if rules.niji and len(named) != len(parts):
        raise PromptError(f"Style Tuner codes need --version 5.2, not {rules.flag}")
    if named and not rules.niji:
        raise PromptError(f"--style {named[0]} needs --niji 5 or --niji 6")
    return value.lower()


def _no(arg: Arg | None) -> tuple[str, ...]:
    if arg is None:
        return ()
    items = tuple(item.strip(" ") for item in " ".join(arg.values).split(","))
    items = tuple(item for item in items if item)
    if not items:
        raise PromptError("--no needs a list of things to leave out, such as --no citrus, table")
    return items


def _sref(arg: Arg | None, seed: int | None) -> tuple[str, ...]:
    if arg is None:
        return ()
    if not arg.values:
        raise PromptError("--sref needs image links, style codes (numbers) or random")
    refs: list[str] = []
    for index, entry in enumerate(arg.values):
        value, weight = _sref_weight(entry)
        url = link(value)
        if url is not None:
            refs.append(url + weight)
        elif _NUMBER_CODE.fullmatch(value) and int(value) <= MAX_SEED:
            refs.append(str(int(value)) + weight)
        elif value == "random":
            code = "random" if seed is None else str(random_style_code(seed, index))
            refs.append(code + weight)
        else:
            raise PromptError(
                f"--sref takes image links, style codes (numbers up to {MAX_SEED}) or random, "
                f'not "{value}"'
            )
    return tuple(refs)


def _sref_weight(entry: str) -> tuple[str, str]:
    """``"url::2"`` -> (``"url"``, ``"::2"``): the relative weight of one style reference.

    The weight stays in the stored text (``engine.references`` reads it back) in a canonical
    form, so ``::2.0`` and ``::2`` are the same prompt; no suffix is weight 1.
    """
    head, sep, tail = entry.rpartition("::")
    if not sep:
        return entry, ""
    try:
        weight = float(tail)
    except ValueError:
        if link(entry) is not None:  # "::" inside a link (an IPv6 host), not a weight
            return entry, ""
        raise PromptError(f'--sref weights are numbers, not "{tail}"') from None
    if not head or weight < 0 or weight != weight or weight == float("inf"):
        raise PromptError(f'--sref weights are numbers of 0 or more after "::", not "{entry}"')
    return head, "" if weight == 1 else f"::{weight:g}"


def random_style_code(seed: int, index: int) -> int:
    # With a seed the whole job must be reproducible, so "random" becomes a code derived from it.
    digest = hashlib.sha256(f"sref random {seed} {index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _links(arg: Arg | None) -> tuple[str, ...]:
    if arg is None:
        return ()
    if not arg.values:
        raise PromptError(f"--{arg.name} needs at least one image link")
    urls = []
    for value in arg.values:
        url = link(value)
        if url is None:
            raise PromptError(f'--{arg.name} takes image links, not "{value}"')
        urls.append(url)
    return tuple(urls)


def _one_link(arg: Arg | None) -> str | None:
    if arg is None:
        return None
    urls = _links(arg)
    if len(urls) != 1:
        raise PromptError(f"--{arg.name} takes exactly one image link")
    return urls[0]


def _codes(arg: Arg | None) -> tuple[str, ...] | None:
    if arg is None:
        return None
    for value in arg.values:
        if not _CODE.fullmatch(value):
            raise PromptError(f'--{arg.name} takes personalization codes, not "{value}"')
    return arg.values
