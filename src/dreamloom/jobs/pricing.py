"""What a job costs: the one price function.

A job is charged fast seconds computed from three things:

1. **The seconds it is billed for.** Most jobs are billed what their run measured. Button
   jobs priced against their grid are not: the seeds price an upscale at "about double the
   GPU time used to create a grid" and variations "slightly less" than a grid, and measured
   time would not say that (an upscale on a small model can be quicker than its grid), so
   they are billed their ratio of the grid's measured seconds (``GRID_RATIOS``).
2. **The plan's multipliers** (``plans.Costs``): the speed mode (turbo x2, relax 0), ``--draft``
   (x1/2) and the job's cost category (U1-U4 splits are free).
3. Never less than zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dreamloom.jobs.plans import Costs


class CostAction(StrEnum):
    """A job's cost category: the keys of ``Costs.action_multipliers``."""

    SPLIT = "split"
    UPSCALE = "upscale"
    VARIATION = "variation"
    DEFAULT = "default"


# Billed seconds of a button job per measured second of the grid it started from.
GRID_RATIOS: Final = {CostAction.UPSCALE: 2.0, CostAction.VARIATION: 0.85}


@dataclass(frozen=True)
class Charge:
    """Everything a job's price depends on."""

    action: CostAction
    measured_seconds: float  # the run's compute time
    mode: str  # the speed mode it ran in (SpeedMode)
    draft: bool = False
    grid_seconds: float | None = None  # measured seconds of the grid a button started from


def billed_seconds(charge: Charge) -> float:
    """The seconds a job's price is computed from, before the plan's multipliers."""
    ratio = GRID_RATIOS.get(charge.action)
    if ratio is None or charge.grid_seconds is None or charge.grid_seconds <= 0:
        return max(0.0, charge.measured_seconds)
    return ratio * charge.grid_seconds


def price(charge: Charge, costs: Costs) -> float:
    """Fast seconds charged for a job."""
    multiplier = costs.mode_multipliers.get(charge.mode, 1.0)
    if charge.draft:
        multiplier *= costs.draft_multiplier
    actions = costs.action_multipliers
    multiplier *= actions.get(charge.action, actions.get(CostAction.DEFAULT, 1.0))
    return billed_seconds(charge) * multiplier
