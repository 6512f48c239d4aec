"""What a button job costs, relative to the grid its picture came from.

The seeds price buttons against the grid: an upscale costs "about double the GPU time used to
create a grid", variations "slightly less" than a grid, and U1-U4 splits nothing. Measured
time would not say that (an upscale on a small model can be quicker than its grid), so these
jobs are charged their ratio of the grid's measured time; everything else is charged what it
measures. Both then go through the plan's multipliers (mode, draft, action).
"""

from __future__ import annotations

from typing import Final

# Charged seconds of a button job per measured second of the grid it started from.
GRID_RATIOS: Final = {"upscale": 2.0, "variation": 0.85}
# Where the service records the grid's measured seconds in a button job's stored response.
GRID_SECONDS_KEY: Final = "_grid_seconds"


def billable_seconds(action: str, measured: float, grid_seconds: float | None) -> float:
    """The seconds a job's charge is computed from (before the plan's multipliers)."""
    ratio = GRID_RATIOS.get(action)
    if ratio is None or grid_seconds is None or grid_seconds <= 0:
        return max(0.0, measured)
    return ratio * grid_seconds
