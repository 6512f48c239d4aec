"""``Params``: every parameter of a prompt, resolved to a value (or its default)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

from .errors import PromptError
from .values import format_number
from .versions import DEFAULT_VERSION

Speed = Literal["fast", "relax", "turbo"]
SPEEDS: Final[tuple[Speed, ...]] = ("fast", "relax", "turbo")


@dataclass(frozen=True)
class Params:
    aspect: tuple[int, int] = (1, 1)  # reduced: 1920:1080 is (16, 9)
    chaos: int = 0
    stylize: int = 100
    quality: float = 1.0
    repeat: int = 1  # how many jobs of this prompt were asked for; each Prompt is one of them
    version: str = DEFAULT_VERSION  # "7", "6.1", "niji 6"
    niji: bool = False
    raw: bool = False  # --raw or --style raw
    style: str | None = None  # other --style values: Style Tuner codes, Niji styles
    no: tuple[str, ...] = ()
    seed: int | None = None
    stop: int = 100
    tile: bool = False
    weird: int = 0
    iw: float = 1.0
    sref: tuple[str, ...] = ()  # links, numeric style codes, or "random" when there is no seed
    sw: int = 100
    sv: int = 6
    cref: tuple[str, ...] = ()
    cw: int = 100
    oref: str | None = None
    ow: int = 100
    personalize: tuple[str, ...] | None = None  # () means "the account's current code"
    draft: bool = False
    stealth: bool | None = None  # --stealth True, --public False, None: the account's setting
    speed: Speed | None = None  # None: the account's speed mode
    video: bool = False  # the --video family is refused, so this stays False for now

    def to_args(self) -> list[str]:
        """The canonical parameter text, one argument per item, in a fixed order.

        Aspect, chaos, quality, stylize and version are always written so that a stored prompt
        keeps its meaning when a default changes; anything else only when it is not its default.
        """
        d = _DEFAULTS
        args = [
            f"--ar {self.aspect[0]}:{self.aspect[1]}",
            f"--chaos {self.chaos}",
            f"--quality {format_number(self.quality)}",
            f"--stylize {self.stylize}",
        ]
        if self.weird != d.weird:
            args.append(f"--weird {self.weird}")
        if self.stop != d.stop:
            args.append(f"--stop {self.stop}")
        if self.seed is not None:
            args.append(f"--seed {self.seed}")
        if self.repeat != d.repeat:
            args.append(f"--repeat {self.repeat}")
        if self.tile:
            args.append("--tile")
        if self.iw != d.iw:
            args.append(f"--iw {format_number(self.iw)}")
        if self.no:
            args.append("--no " + ", ".join(self.no))
        if self.sref:
            args.append("--sref " + " ".join(self.sref))
            if self.sw != d.sw:
                args.append(f"--sw {self.sw}")
            if self.sv != d.sv:
                args.append(f"--sv {self.sv}")
        if self.cref:
            args.append("--cref " + " ".join(self.cref))
            if self.cw != d.cw:
                args.append(f"--cw {self.cw}")
        if self.oref is not None:
            args.append(f"--oref {self.oref}")
            if self.ow != d.ow:
                args.append(f"--ow {self.ow}")
        if self.personalize is not None:
            args.append(" ".join(["--p", *self.personalize]))
        if self.raw:
            args.append("--raw")
        if self.style is not None:
            args.append(f"--style {self.style}")
        if self.draft:
            args.append("--draft")
        if self.stealth is not None:
            args.append("--stealth" if self.stealth else "--public")
        if self.speed is not None:
            args.append(f"--{self.speed}")
        if self.niji:
            args.append(f"--niji {self.version.removeprefix('niji ')}")
        else:
            args.append(f"--v {self.version}")
        return args

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Params:
        """Inverse of ``to_dict``; missing keys take their defaults, unknown keys are ignored."""
        kwargs: dict[str, Any] = {}
        try:
            for name, convert in _CONVERTERS.items():
                if name in data:
                    kwargs[name] = convert(data[name])
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise PromptError(f"Invalid prompt parameters: {exc}") from None


_DEFAULTS: Final = Params()


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError("expected a list of strings")
    return tuple(str(item) for item in value)


def _aspect(value: Any) -> tuple[int, int]:
    width, height = value
    return int(width), int(height)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _speed(value: Any) -> Speed:
    for speed in SPEEDS:
        if value == speed:
            return speed
    raise ValueError(f"unknown speed {value!r}")


_CONVERTERS: Final[dict[str, Callable[[Any], Any]]] = {
    "aspect": _aspect,
    "chaos": int,
    "stylize": int,
    "quality": float,
    "repeat": int,
    "version": str,
    "niji": _bool,
    "raw": _bool,
    "style": _optional(str),
    "no": _strings,
    "seed": _optional(int),
    "stop": int,
    "tile": _bool,
    "weird": int,
    "iw": float,
    "sref": _strings,
    "sw": int,
    "sv": int,
    "cref": _strings,
    "cw": int,
    "oref": _optional(str),
    "ow": int,
    "personalize": _optional(_strings),
    "draft": _bool,
    "stealth": _optional(_bool),
    "speed": _optional(_speed),
    "video": _bool,
}
