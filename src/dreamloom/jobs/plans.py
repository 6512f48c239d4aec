"""Plans and pricing: every limit and multiplier as data.

The defaults follow the Midjourney support FAQ (basic / standard / pro / mega). Pro and Mega fast
hours are not given there; 30 h and 60 h are this project's choice. A deployment overrides any
of it with a JSON file (``Settings.plans_file``) holding only what changes, e.g.::

    {"plans": {"basic": {"monthly_fast_minutes": 300},
               "team": {"monthly_fast_minutes": 6000, "relax_allowed": true}},
     "costs": {"mode_multipliers": {"turbo": 2.5}},
     "turbo_available": false}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dreamloom.domain import SpeedMode

SPEED_MODES = tuple(SpeedMode)


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    monthly_fast_minutes: float = Field(ge=0)
    relax_allowed: bool
    stealth_allowed: bool = False
    # Running jobs at once in fast/turbo (Pro/Mega: 12) and in relax (3 for everyone); the
    # account's total running jobs never exceed the larger of the two.
    concurrency: int = Field(default=3, ge=1)
    relax_concurrency: int = Field(default=3, ge=1)
    # Submissions that may wait behind the running jobs.
    queue_depth: int = Field(default=10, ge=0)
    # Jobs one submission may create (permutations x --repeat).
    batch_cap: int = Field(default=4, ge=1)

    @property
    def monthly_fast_seconds(self) -> float:
        return self.monthly_fast_minutes * 60.0

    @property
    def max_running(self) -> int:
        return max(self.concurrency, self.relax_concurrency)

    def running_cap(self, mode: str) -> int:
        return self.relax_concurrency if mode == SpeedMode.RELAX else self.concurrency


class Costs(BaseModel):
    """cost = measured compute seconds x mode multiplier x draft multiplier x action multiplier."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Relax is recorded in the ledger but takes no fast time.
    mode_multipliers: dict[str, float] = Field(
        default_factory=lambda: {"fast": 1.0, "turbo": 2.0, "relax": 0.0}
    )
    draft_multiplier: float = 0.5
    # Keyed by jobs.pricing.CostAction (a job's category, jobs.buttons.cost_action). Upscales
    # and variations are billed their ratio of the grid (jobs.pricing); U1-U4 splits are free.
    action_multipliers: dict[str, float] = Field(
        default_factory=lambda: {"split": 0.0, "upscale": 1.0, "variation": 1.0, "default": 1.0}
    )
    purchased_expiry_days: float = 60.0
    bonus_expiry_days: float = 30.0

    @field_validator("mode_multipliers")
    @classmethod
    def _all_modes(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [mode for mode in SPEED_MODES if mode not in value]
        if missing:
            raise ValueError(f"mode_multipliers lacks {missing}")
        return value


def _default_plans() -> dict[str, Plan]:
    return {
        "basic": Plan(name="basic", monthly_fast_minutes=200, relax_allowed=False, batch_cap=4),
        "standard": Plan(
            name="standard", monthly_fast_minutes=15 * 60, relax_allowed=True, batch_cap=10
        ),
        "pro": Plan(
            name="pro",
            monthly_fast_minutes=30 * 60,
            relax_allowed=True,
            stealth_allowed=True,
            concurrency=12,
            batch_cap=40,
        ),
        "mega": Plan(
            name="mega",
            monthly_fast_minutes=60 * 60,
            relax_allowed=True,
            stealth_allowed=True,
            concurrency=12,
            batch_cap=40,
        ),
    }


class PlanBook(BaseModel):
    """All plans plus pricing and queue settings: what the jobs layer needs to decide."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plans: dict[str, Plan] = Field(default_factory=_default_plans)
    costs: Costs = Field(default_factory=Costs)
    default_plan: str = "standard"
    # Without a separate turbo pool a turbo job runs (and is charged) as fast.
    turbo_available: bool = True
    # Relax fairness: an account's relax usage counts over this window (None: since the start
    # of its billing cycle, so priority resets with each renewal, as in the FAQ).
    relax_usage_window_hours: float | None = None
    # A running relax job counts as this much usage while it runs, so that one account's
    # burst cannot take every free worker before its usage is recorded.
    relax_inflight_seconds: float = 60.0

    @model_validator(mode="after")
    def _default_exists(self) -> PlanBook:
        if self.default_plan not in self.plans:
            raise ValueError(f"default_plan {self.default_plan!r} is not a plan")
        return self

    def get(self, name: str) -> Plan:
        """The named plan; unknown names (a plan removed from the file) get the default."""
        return self.plans.get(name) or self.plans[self.default_plan]

    @classmethod
    def load(cls, path: Path | None = None) -> PlanBook:
        """Defaults, overridden by the JSON file at ``path`` when given."""
        if path is None:
            return cls()
        overrides = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(overrides, dict):
            raise ValueError(f"{path}: expected a JSON object")
        return cls.from_overrides(overrides)

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> PlanBook:
        base = cls().model_dump()
        plans = overrides.get("plans", {})
        merged = _deep_merge(base, {k: v for k, v in overrides.items() if k != "plans"})
        for name, fields in plans.items():
            # A new plan starts from the standard plan's limits, not from nothing.
            start = merged["plans"].get(name) or {**merged["plans"]["standard"], "name": name}
            merged["plans"][name] = _deep_merge(start, {**fields, "name": name})
        return cls.model_validate(merged)


def _deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
