"""Plan defaults (from the support FAQ) and overrides from a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from dreamloom.jobs.plans import PlanBook


def test_defaults_follow_the_faq() -> None:
    book = PlanBook()
    basic, standard, pro, mega = (book.plans[n] for n in ("basic", "standard", "pro", "mega"))
    assert basic.monthly_fast_seconds == 200 * 60 and not basic.relax_allowed
    assert standard.monthly_fast_seconds == 15 * 3600 and standard.relax_allowed
    assert pro.monthly_fast_seconds == 30 * 3600 and pro.relax_allowed and pro.stealth_allowed
    assert mega.monthly_fast_seconds == 60 * 3600 and mega.stealth_allowed
    assert not basic.stealth_allowed and not standard.stealth_allowed
    assert [p.batch_cap for p in (basic, standard, pro, mega)] == [4, 10, 40, 40]
    assert [p.concurrency for p in (basic, standard, pro, mega)] == [3, 3, 12, 12]
    assert {p.relax_concurrency for p in book.plans.values()} == {3}
    assert {p.queue_depth for p in book.plans.values()} == {10}
    assert pro.running_cap("relax") == 3 and pro.running_cap("turbo") == 12
    costs = book.costs
    assert costs.mode_multipliers == {"fast": 1.0, "turbo": 2.0, "relax": 0.0}
    assert costs.draft_multiplier == 0.5 and costs.action_multipliers["split"] == 0.0
    assert (costs.purchased_expiry_days, costs.bonus_expiry_days) == (60, 30)
    assert book.turbo_available


def test_unknown_plan_names_fall_back_to_the_default_plan() -> None:
    book = PlanBook()
    assert book.get("retired-plan").name == "standard"
    assert book.get("pro").name == "pro"


def test_overrides_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "plans.json"
    path.write_text(
        json.dumps(
            {
                "plans": {
                    "basic": {"monthly_fast_minutes": 300, "relax_allowed": True},
                    "team": {"monthly_fast_minutes": 6000, "concurrency": 20},
                },
                "costs": {"mode_multipliers": {"turbo": 3.0}, "action_multipliers": {"upscale": 2}},
                "turbo_available": False,
                "default_plan": "team",
            }
        )
    )
    book = PlanBook.load(path)
    assert book.plans["basic"].monthly_fast_minutes == 300
    assert book.plans["basic"].relax_allowed and book.plans["basic"].batch_cap == 4
    team = book.plans["team"]
    assert team.name == "team" and team.concurrency == 20
    assert team.batch_cap == 10 and team.relax_allowed  # the rest comes from standard
    assert book.costs.mode_multipliers == {"fast": 1.0, "turbo": 3.0, "relax": 0.0}
    assert book.costs.action_multipliers["upscale"] == 2 and book.costs.draft_multiplier == 0.5
    assert not book.turbo_available
    assert book.get("nope").name == "team"
    assert PlanBook.load(None) == PlanBook()


@pytest.mark.parametrize(
    "overrides",
    [
        {"plans": {"basic": {"concurrency": 0}}},
        {"plans": {"basic": {"unknown_limit": 1}}},
        {"default_plan": "missing"},
        {"turbo_available": "sometimes"},
    ],
)
def test_invalid_overrides_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PlanBook.from_overrides(overrides)


def test_a_missing_mode_multiplier_is_refused() -> None:
    with pytest.raises(ValidationError):
        PlanBook.model_validate({"costs": {"mode_multipliers": {"fast": 1.0}}})
