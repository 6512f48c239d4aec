"""The button catalogue, button pricing, and the engine runner's output filter."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dreamloom.jobs.button_recipes import ButtonInputError, split_zoom, strong_variation
from dreamloom.jobs.buttons import (
    ALL_BUTTONS,
    GRID_BUTTONS,
    UnknownButtonError,
    action_for,
    buttons_for,
    cost_action,
    is_video_button,
    result_kind,
)
from dreamloom.jobs.executor.base import Task
from dreamloom.jobs.pricing import Charge, CostAction, billed_seconds


def test_every_reference_button_has_an_action_or_is_video() -> None:
    assert len(ALL_BUTTONS) == 34
    for label in ALL_BUTTONS:
        if is_video_button(label):
            continue
        assert action_for(label).operation
    with pytest.raises(UnknownButtonError):
        action_for("Max Upscale")


def test_what_each_result_offers() -> None:
    assert buttons_for("grid", "7") == list(GRID_BUTTONS)
    assert buttons_for("grid", "3")[-1] == "Remaster"
    single = buttons_for("single", "7", square=False)
    assert single[:2] == ["Upscale (Subtle)", "Upscale (Creative)"] and "Make Square" in single
    assert "Make Square" not in buttons_for("single", "6.1")
    assert buttons_for("single", "5.2")[:2] == ["Upscale (2x)", "Upscale (4x)"]
    assert buttons_for("single", "niji 6")[0] == "Upscale (Subtle)"
    assert buttons_for("single", "4")[0] == "Make Variations"
    assert buttons_for("upscale", "7") == ["Redo Upscale (Subtle)", "Redo Upscale (Creative)"]
    assert not any(
        is_video_button(b) for kind in ("grid", "single", "upscale") for b in buttons_for(kind, "7")
    )  # type: ignore[arg-type]
    assert result_kind("button", "U3") == "single"
    assert result_kind("button", "Redo Upscale (4x)") == "upscale"
    assert result_kind("describe", None) is None


def test_cost_categories_and_grid_pricing() -> None:
    assert cost_action("button", "U1") == "split"
    assert cost_action("button", "Redo Upscale (Creative)") == "upscale"
    assert cost_action("button", "Vary (Region)") == "variation"
    assert cost_action("button", "V2") == "variation"
    assert cost_action("button", "🔄") == "default"
    assert cost_action("imagine", None) == "default"
    assert billed_seconds(Charge(CostAction.UPSCALE, 0.3, "fast", grid_seconds=1.0)) == 2.0
    variation = Charge(CostAction.VARIATION, 0.9, "fast", grid_seconds=1.0)
    assert billed_seconds(variation) == pytest.approx(0.85)
    assert billed_seconds(Charge(CostAction.UPSCALE, 0.3, "fast")) == 0.3
    assert billed_seconds(Charge(CostAction.DEFAULT, 1.5, "fast", grid_seconds=1.0)) == 1.5


def test_zoom_values_and_variation_strength() -> None:
    assert split_zoom("a cat --zoom 1.5 --ar 1:1") == ("a cat --ar 1:1", 1.5)
    assert split_zoom("a cat") == ("a cat", None)
    for bad in ("a cat --zoom 1", "a cat --zoom 2.5", "a cat --zoom big"):
        with pytest.raises(ButtonInputError):
            split_zoom(bad)
    assert strong_variation("subtle", "high") is False
    assert strong_variation("account", "high") is True
    assert strong_variation("account", "low") is False


@pytest.mark.slow
def test_the_engine_runners_outputs_are_moderated_before_they_are_kept(tmp_path: Path) -> None:
    from dreamloom.engine import model_info, recipe_for_imagine
    from dreamloom.jobs.executor import engine_runner
    from dreamloom.jobs.executor.base import TaskCalls, TaskFailure, TaskResult
    from dreamloom.jobs.executor.finishing import Finisher
    from dreamloom.prompt import parse_prompt

    info = model_info("tiny", tmp_path)
    recipe = recipe_for_imagine(parse_prompt("a cube")[0], info, 1)
    recipe = dataclasses.replace(recipe, steps=1, batch=1)

    def finished(threshold: float | None) -> TaskResult | TaskFailure:
        data = recipe.to_dict()
        if threshold is not None:
            data[engine_runner.MODERATION_KEY] = threshold
        task = Task("job", "tiny", tmp_path, "cpu", data)
        (outcome,) = engine_runner.RUNNER.run([task], [TaskCalls(lambda *a: None, lambda: False)])
        return Finisher(2).finish(task, outcome)

    kept = finished(0.99)
    assert isinstance(kept, TaskResult) and len(kept.images_png) == 1
    # A threshold no picture can stay under: everything is "unsafe".
    blocked = finished(1e-9)
    assert isinstance(blocked, TaskFailure) and blocked.moderated and not blocked.retryable
