"""The /settings panel of a settings job against the reference's own completed jobs/settings
example (its components, copied verbatim into reference_settings_panel.json)."""

from __future__ import annotations

import json
from pathlib import Path

from dreamloom.api.v3.settings_panel import settings_panel

REFERENCE = Path(__file__).with_name("reference_settings_panel.json")
# The example's response.settings.
EXAMPLE = {
    "version": "7",
    "raw": False,
    "stylize": 250,
    "personalization": False,
    "public": True,
    "remix": True,
    "variability": True,
    "turbo": False,
    "fast": False,
    "relax": True,
    "suffix": "--v 7 --s 250",
}


def test_the_panel_is_the_references_for_its_example_settings() -> None:
    assert settings_panel(EXAMPLE) == json.loads(REFERENCE.read_text(encoding="utf-8"))


def test_the_panel_follows_the_settings() -> None:
    changed = {
        **EXAMPLE,
        "version": "niji 6",
        "raw": True,
        "stylize": 750,
        "variability": False,
        "relax": False,
        "turbo": True,
    }
    panel = settings_panel(changed)
    (selected,) = [o for o in panel[0]["components"][0]["options"] if o.get("default")]
    assert selected["value"] == "niji 6"
    active = {c["label"] for row in panel[1:] for c in row["components"] if c["style"] == 3}
    assert active == {
        "RAW Mode",
        "Stylize very high",
        "Public mode",
        "Remix mode",
        "Subtle Variation Mode",
        "Turbo mode",
    }
    # A stylize no button stands for (any 0-1000 may be set) lights none of them.
    other = settings_panel({**EXAMPLE, "stylize": 600})
    assert not [c for c in other[1]["components"][1:] if c["style"] == 3]
