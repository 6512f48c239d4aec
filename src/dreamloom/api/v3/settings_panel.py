"""The /settings panel of a settings job's ``response.components``, as the reference's
completed jobs/settings example shows it: the version selector, then rows of buttons, the
active ones with style 3 and the others with style 2 (Discord's "success" and "secondary").

Built from ``response.settings`` (the one source of truth), so the panel always agrees with it.
The buttons are not pressed through v3 (jobs/button takes only job buttons); dreamloom's
native ``POST /native/settings`` does what each one does.
"""

from __future__ import annotations

from typing import Any, Final

from dreamloom.prompt.versions import DEFAULT_VERSION

# (value, label, emoji) of the version selector, in the reference's order.
_VERSIONS: Final = (
    ("7", "Midjourney Model V7", "7️⃣"),
    ("6.1", "Midjourney Model V6.1", "6️⃣"),
    ("6", "Midjourney Model V6.0", "6️⃣"),
    ("niji 6", "Niji Model V6", "🌈"),
    ("5.2", "Midjourney Model V5.2", "5️⃣"),
    ("5.1", "Midjourney Model V5.1", "5️⃣"),
    ("niji 5", "Niji Model V5", "🍎"),
    ("5", "Midjourney Model V5.0", "5️⃣"),
    ("niji 4", "Niji Model V4", "🌈"),
    ("4", "Midjourney Model V4", "4️⃣"),
    ("3", "Midjourney Model V3", "3️⃣"),
    ("2", "Midjourney Model V2", "2️⃣"),
    ("1", "Midjourney Model V1", "1️⃣"),
)
_STYLIZE: Final = ((50, "low"), (100, "med"), (250, "high"), (750, "very high"))
_ACTIVE: Final = 3
_INACTIVE: Final = 2


def settings_panel(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The components of the panel for a full ``settings`` object."""
    ids = iter(range(1, 100))
    options: list[dict[str, Any]] = [
        {
            "value": "default",
            "label": f"Use the default model (V{DEFAULT_VERSION})",
            "description": "(default)",
        }
    ]
    for value, label, emoji in _VERSIONS:
        option: dict[str, Any] = {"value": value, "label": label, "emoji": {"name": emoji}}
        if settings.get("version") == value:
            option["default"] = True
        options.append(option)

    def row(*components: dict[str, Any]) -> dict[str, Any]:
        row_id = next(ids)
        return {"type": 1, "id": row_id, "components": [{**c, "id": next(ids)} for c in components]}

    def button(label: str, custom_id: str, active: bool, emoji: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": 2,
            "style": _ACTIVE if active else _INACTIVE,
            "label": label,
        }
        if emoji is not None:
            out["emoji"] = {"name": emoji}
        out["custom_id"] = custom_id
        return out

    selector = {
        "type": 3,
        "placeholder": "Select a version",
        "options": options,
        "min_values": 1,
        "max_values": 1,
        "custom_id": "MJ::Settings::VersionSelector",
    }
    stylize = settings.get("stylize")
    return [
        row(selector),
        row(
            button("RAW Mode", "MJ::Settings::Style::raw", bool(settings.get("raw")), "🔧"),
            *(
                button(f"Stylize {name}", f"MJ::Settings::Stylization::{n}", stylize == n, "🖌️")
                for n, name in _STYLIZE
            ),
        ),
        row(
            button(
                "Personalization",
                "MJ::Settings::PersonalizedStyle",
                bool(settings.get("personalization")),
                "🙋",
            ),
            button(
                "Public mode", "MJ::Settings::PrivateMode::off", bool(settings.get("public")), "🧍"
            ),
            button("Remix mode", "MJ::Settings::RemixMode", bool(settings.get("remix")), "🎛️"),
            button(
                "Strong Variation Mode",
                "MJ::Settings::HighVariabilityMode::1",
                settings.get("variability") is True,
                "🎨",
            ),
            button(
                "Subtle Variation Mode",
                "MJ::Settings::HighVariabilityMode::0",
                settings.get("variability") is False,
                "🎨",
            ),
        ),
        row(
            button("Turbo mode", "MJ::Settings::TurboMode", bool(settings.get("turbo")), "⚡"),
            button("Fast mode", "MJ::Settings::FastMode", bool(settings.get("fast")), "🐇"),
            button("Relax mode", "MJ::Settings::RelaxMode", bool(settings.get("relax")), "🐢"),
            button("Reset Settings", "MJ::Settings::ResetSettings", False, None),
        ),
    ]
