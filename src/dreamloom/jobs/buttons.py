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

from dreamloom.domain import Verb
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
_PAN_WORDS: Final = {"left": "Left", "right": "Right", "up": "Up", "down": "Down"}


@dataclass(frozen=True)
class ButtonAction:
    """What pressing a button does: one row of the button table (``BUTTONS``)."""

    operation: Operation
    index: int | None = None  # U/V: which image of the grid (1-4)
    strength: Literal["subtle", "strong", "account"] | None = None  # variations
    zoom: float | None = None  # zoom-out factor; None for Custom Zoom (from --zoom)
    direction: str | None = None  # pans: left | right | up | down
    upscale: str | None = None  # subtle | creative | 2x | 4x
    redo: bool = False
    # Accepts an edited prompt when the account's Remix mode is on (reference, POST
    # jobs/button); Custom Zoom always takes one.
    remix: bool = False
    # How Midjourney's message names the result ("Variations (Strong)", "Pan Left"); "" for
    # a split or a reroll, whose message names no action.
    caption: str = ""

    @property
    def result(self) -> Kind:
        if self.operation == "split":
            return "single"
        if self.operation == "upscale":
            return "upscale"
        return "grid"

    @property
    def cost(self) -> CostAction:
        """The job's cost category (``pricing.price``): splits are free, upscales and
        variations are priced against their grid."""
        if self.operation == "split":
            return CostAction.SPLIT
        if self.operation == "upscale":
            return CostAction.UPSCALE
        if self.operation in ("variation", "region"):
            return CostAction.VARIATION
        return CostAction.DEFAULT


def _table() -> dict[str, ButtonAction]:
    table: dict[str, ButtonAction] = {}
    for number, label in enumerate(SPLITS, start=1):
        table[label] = ButtonAction("split", index=number)
    for number, label in enumerate(VARIATIONS, start=1):
        table[label] = ButtonAction(
            "variation", index=number, strength="account", remix=True, caption="Variations"
        )
    table["Make Variations"] = ButtonAction("variation", strength="account", caption="Variations")
    table["Vary (Subtle)"] = ButtonAction(
        "variation", strength="subtle", remix=True, caption="Variations (Subtle)"
    )
    table["Vary (Strong)"] = ButtonAction(
        "variation", strength="strong", remix=True, caption="Variations (Strong)"
    )
    table["Vary (Region)"] = ButtonAction("region", remix=True, caption="Variations (Region)")
    for label, factor in ZOOMS.items():
        table[label] = ButtonAction("zoom", zoom=factor, caption="Zoom Out")
    table[CUSTOM_ZOOM] = ButtonAction("zoom", caption="Zoom Out")
    for label, direction in PANS.items():
        caption = f"Pan {_PAN_WORDS[direction]}"
        table[label] = ButtonAction("pan", direction=direction, remix=True, caption=caption)
    table["Make Square"] = ButtonAction("square", caption="Make Square")
    for label, mode in UPSCALES.items():
        redo = label.startswith("Redo")
        caption = "Upscaled " + label.removeprefix("Redo ").removeprefix("Upscale ")
        table[label] = ButtonAction("upscale", upscale=mode, redo=redo, caption=caption)
    table[REROLL] = ButtonAction("reroll", remix=True)
    table["Remaster"] = ButtonAction("remaster", caption="Remaster")
    return table


# The one table of buttons: label -> what it does, what its result is, what it costs, how its
# message names it, whether it takes a Remix prompt. Which results offer which buttons is
# ``buttons_for``; the recipe each builds is ``button_recipes.recipe_for_button``.
BUTTONS: Final = _table()
ALL_BUTTONS: Final = (*BUTTONS, *VIDEO_BUTTONS)
REMIX_BUTTONS: Final = frozenset(label for label, action in BUTTONS.items() if action.remix)


class UnknownButtonError(ValueError):
    pass


def is_video_button(label: str) -> bool:
    return label in VIDEO_BUTTONS


def action_for(label: str) -> ButtonAction:
    """The action of a (non-video) button label; raises UnknownButtonError."""
    try:
        return BUTTONS[label]
    except KeyError:
        raise UnknownButtonError(label) from None


def result_kind(verb: str, button: str | None) -> Kind | None:
    """What a job produces: a grid, a single image or an upscale; None for text results."""
    if verb in ("imagine", "blend") or (verb == Verb.SHOW and not button):
        return "grid"
    if verb == "upload":
        return "single"
    action = action_of_job(verb, button)
    return None if action is None else action.result


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


def action_of_job(verb: str, button: str | None) -> ButtonAction | None:
    """The button action of a job; None for a job made by no (known) button. A /show job
    carries the button of the job it shows, and reads as that job."""
    if verb not in (Verb.BUTTON, Verb.SHOW) or not button:
        return None
    return BUTTONS.get(button)


def cost_action(verb: str, button: str | None) -> CostAction:
    """The cost category of a job (what ``pricing.price`` multiplies by)."""
    action = action_of_job(verb, button)
    return CostAction.DEFAULT if action is None else action.cost
