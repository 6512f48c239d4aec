from __future__ import annotations

import json
import pickle
from collections.abc import Callable

import pytest

from dreamloom.engine import ModelInfo, PromptPart, Recipe
from dreamloom.engine.recipe import guidance_for, size_multiple, steps_for


def test_recipe_round_trips_through_json(recipe: Callable[..., Recipe]) -> None:
    original = recipe(
        negative=(PromptPart("text", 0.5), PromptPart("blur", 2.0)),
        chaos=0.3,
        weird=0.1,
        tile=True,
        stop_fraction=0.6,
        stylize=250,
        init_image=b"\x89PNG\r\n\x1a\n\x00binary",
        mask=None,
        strength=0.4,
    )
    data = json.loads(json.dumps(original.to_dict()))
    assert isinstance(data["init_image"], str)
    assert Recipe.from_dict(data) == original
    assert pickle.loads(pickle.dumps(original)) == original


def test_from_dict_rejects_unknown_fields(recipe: Callable[..., Recipe]) -> None:
    data = recipe().to_dict() | {"future_knob": 1}
    with pytest.raises(ValueError, match="future_knob"):
        Recipe.from_dict(data)


@pytest.mark.parametrize(
    "change",
    [
        {"width": 60},
        {"height": 0},
        {"steps": 0},
        {"batch": 0},
        {"chaos": 1.5},
        {"weird": -0.1},
        {"stop_fraction": 0.0},
        {"strength": 2.0},
        {"operation": "paint"},
        {"positive": (PromptPart("x", -1.0),)},
    ],
)
def test_invalid_recipes_are_refused(
    recipe: Callable[..., Recipe], change: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        recipe(**change)


def test_steps_to_run_follows_stop_fraction(recipe: Callable[..., Recipe]) -> None:
    assert recipe(stop_fraction=1.0).steps_to_run(8) == 8
    assert recipe(stop_fraction=0.5).steps_to_run(8) == 4
    assert recipe(stop_fraction=0.1).steps_to_run(8) == 1
    assert recipe(stop_fraction=0.1).steps_to_run(1) == 1


def test_quality_and_draft_scale_steps() -> None:
    assert steps_for(30, 1, False) == 30
    assert steps_for(30, 2, False) == 60
    assert steps_for(30, 4, False) == 120
    assert steps_for(30, 0.5, False) == 15
    assert steps_for(30, 1, True) == 15
    assert steps_for(1, 0.25, True) == 1  # never below one step


def test_stylize_maps_monotonically_onto_guidance() -> None:
    values = [guidance_for(s, 7.5, raw=False) for s in (0, 50, 100, 250, 500, 1000)]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert guidance_for(100, 7.5, raw=False) == 7.5
    assert guidance_for(100, 7.5, raw=True) < 7.5
    assert guidance_for(1000, 7.5, raw=False) > 7.5 > guidance_for(0, 7.5, raw=False) > 1.0
    # Guidance-free distilled models keep their default: CFG would double cost and burn.
    assert guidance_for(1000, 0.0, raw=False) == 0.0


def test_size_multiple_is_the_models_own() -> None:
    assert size_multiple(ModelInfo("sd", native_size=512)) == 8
    assert size_multiple(ModelInfo("tiny", native_size=64)) == 8
    assert size_multiple(ModelInfo("flux", native_size=1024, multiple=16)) == 16
