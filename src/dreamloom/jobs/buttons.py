"""The buttons under a result: their names, what each one does, and which results offer which.

Pure data and rules, no I/O. The names are the exact labels of the useapi.net v3 reference
(the ones clients send in ``button`` and read in ``response.buttons``).

What a result offers depends on its kind and the model version it was made with:

- a **grid** (imagine, blend, reroll, variations, zoom, pan, make square): U1-U4, reroll,
  V1-V4 (in the order of the reference's stream example), plus Remaster on V1-V3 grids;
- a **single** image split out of a grid (U1-U4): upscales, variations, Vary (Region), zooms,
  pans, and Make Square when it is not square. Version 6 and later upscale Subtle/Creative;
  5.x and Niji 5 upscale 2x/4x; earlier versions offer Make Variations and 2x/4x;
- an **upscale**: its Redo buttons ("upscaling is the last step": no region edit after it).

Video buttons (Animate, Extend) exist in the reference but need a video model, so no result
offers them and pressing one is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from dreamloom.jobs.pricing import CostAction

Kind = Literal["grid", "single", "upscale"]
Operation = Literal[
    "split", "reroll", "variation", "region", "zoom", "pan", "square", "upscale", "remaster"
]

SPLITS: Final = ("U1", "U2", "U3", "U4")
VARIATIONS: Final = ("V1", "V2", "V3", "V4")
PANS: Final = {"⬅️": "left", "➡️": "right", "⬆️": "up", "⬇️": "down"}
ZOOMS: Final = {"Zoom Out 1.5x": 1.5, "Zoom Out 2x": 2.0}
CUSTOM_ZOOM: Final = "Custom Zoom"
REROLL: Final = "🔄"
VIDEO_BUTTONS: Final = (
    "Animate (Low motion)",
    "Animate (High motion)",
    "Extend (Low motion)",
    "Extend (High motion)",
)
# Upscale buttons: label -> the engine's upscale mode. Redo runs the same upscale again from
# the same source image, with a new seed.
UPSCALES: Final = {
    "Upscale (Subtle)": "subtle",
    "Upscale (Creative)": "creative",
    "Upscale (2x)": "2x",
    "Upscale (4x)": "4x",
    "Redo Upscale (Subtle)": "subtle",
    "Redo Upscale (Creative)": "creative",
    "Redo Upscale (2x)": "2x",
    "Redo Upscale (4x)": "4x",
}

ALL_BUTTONS: Final = (
    *SPLITS,
    *VARIATIONS,
    *PANS,
    "Vary (Region)",
    "Vary (Strong)",
    "Vary (Subtle)",
    *ZOOMS,
    *(name for name in UPSCALES),
    "Make Square",
    "Make Variations",
    "Remaster",
    CUSTOM_ZOOM,
    REROLL,
    *VIDEO_BUTTONS,
)

GRID_BUTTONS: Final = (*SPLITS, REROLL, *VARIATIONS)
_SINGLE_TOOLS: Final = (
    "Vary (Subtle)",
    "Vary (Strong)",
    "Vary (Region)",
    "Zoom Out 2x",
    "Zoom Out 1.5x",
    CUSTOM_ZOOM,
    *PANS,
)
# Buttons that accept an edited prompt when the account's Remix mode is on (reference,
# POST jobs/button); Custom Zoom always takes one.
REMIX_BUTTONS: Final = frozenset(
    {*VARIATIONS, "Vary (Region)", "Vary (Strong)", "Vary (Subtle)", *PANS, REROLL}
)


@dataclass(frozen=True)
class ButtonAction:
    """What pressing a button does."""

    operation: Operation
    index: int | None = None  # U/V: which image of the grid (1-4)
    strength: Literal["subtle", "strong", "account"] | None = None  # variations
    zoom: float | None = None  # zoom-out factor; None for Custom Zoom (from --zoom)
    direction: str | None = None  # pans: left | right | up | down
    upscale: str | None = None  # subtle | creative | 2x | 4x
    redo: bool = False

    @property
    def result(self) -> Kind:
        if self.operation == "split":
            return "single"
        if self.operation == "upscale":
            return "upscale"
        return "grid"


class UnknownButtonError(ValueError):
    pass


def is_video_button(label: str) -> bool:
    return label in VIDEO_BUTTONS


def action_for(label: str) -> ButtonAction:
    """The action of a (non-video) button label; raises UnknownButtonError."""
    if label in SPLITS:
        return ButtonAction("split", index=SPLITS.index(label) + 1)
    if label in VARIATIONS:
        return ButtonAction("variation", index=VARIATIONS.index(label) + 1, strength="account")
    if label == "Make Variations":
        return ButtonAction("variation", strength="account")
    if label == "Vary (Subtle)":
        return ButtonAction("variation", strength="subtle")
    if label == "Vary (Strong)":
        return ButtonAction("variation", strength="strong")
    if label == "Vary (Region)":
        return ButtonAction("region")
    if label in ZOOMS:
        return ButtonAction("zoom", zoom=ZOOMS[label])
    if label == CUSTOM_ZOOM:
        return ButtonAction("zoom")
    if label in PANS:
        return ButtonAction("pan", direction=PANS[label])
    if label == "Make Square":
        return ButtonAction("square")
    if label in UPSCALES:
        return ButtonAction("upscale", upscale=UPSCALES[label], redo=label.startswith("Redo"))
    if label == REROLL:
        return ButtonAction("reroll")
    if label == "Remaster":
        return ButtonAction("remaster")
    raise UnknownButtonError(label)


def result_kind(verb: str, button: str | None) -> Kind | None:
    """What a job produces: a grid, a single image or an upscale; None for text results."""
    if verb in ("imagine", "blend"):
        return "grid"
    if verb == "button" and button:
        try:
            return action_for(button).result
        except UnknownButtonError:
            return None
    return None


def _major(version: str) -> float:
    digits = version.removeprefix("niji ").strip()
    try:
        return float(digits)
    except ValueError:
        return 7.0


def buttons_for(kind: Kind | None, version: str, *, square: bool = True) -> list[str]:
    """The buttons a completed result of ``kind`` offers (the reference's order)."""
    niji = version.startswith("niji")
    major = _major(version)
    if kind == "grid":
        extra = ["Remaster"] if not niji and major < 4 else []
        return [*GRID_BUTTONS, *extra]
    if kind == "single":
        square_button = [] if square else ["Make Square"]
        if not niji and major < 5:
            return ["Make Variations", "Upscale (2x)", "Upscale (4x)"]
        if major < 6:
            return ["Upscale (2x)", "Upscale (4x)", *_SINGLE_TOOLS, *square_button]
        return ["Upscale (Subtle)", "Upscale (Creative)", *_SINGLE_TOOLS, *square_button]
    if kind == "upscale":
        if major < 6:
            return ["Redo Upscale (2x)", "Redo Upscale (4x)"]
        return ["Redo Upscale (Subtle)", "Redo Upscale (Creative)"]
    return []


def cost_action(verb: str, button: str | None) -> CostAction:
    """The cost category of a job (what ``pricing.price`` multiplies by)."""
    if verb == "button" and button:
        try:
            operation = action_for(button).operation
        except UnknownButtonError:
            return CostAction.DEFAULT
        if operation == "split":
            return CostAction.SPLIT
        if operation == "upscale":
            return CostAction.UPSCALE
        if operation in ("variation", "region"):
            return CostAction.VARIATION
    return CostAction.DEFAULT
