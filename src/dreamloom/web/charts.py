"""The usage chart: GPU minutes per day as SVG bars, drawn on the server (no chart library, no
script), with the same figures as a table for screen readers."""

from __future__ import annotations

from dataclasses import dataclass

from dreamloom.service.usage import UsageReport

WIDTH = 600
HEIGHT = 120
GAP = 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # "2026-12-05: 3 jobs, 1.2 GPU minutes"


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    peak_minutes: float
    rows: tuple[tuple[str, int, float], ...]  # (day, jobs, GPU minutes)


def usage_chart(report: UsageReport) -> Chart:
    days = report.days
    peak = max((d.gpu_seconds for d in days), default=0.0) / 60
    step = WIDTH / max(1, len(days))
    bars = []
    for i, day in enumerate(days):
        minutes = day.gpu_seconds / 60
        height = HEIGHT * minutes / peak if peak > 0 else 0.0
        bars.append(
            Bar(
                x=round(i * step, 2),
                y=round(HEIGHT - height, 2),
                width=round(max(1.0, step - GAP), 2),
                height=round(height, 2),
                label=f"{day.day.isoformat()}: {day.jobs} jobs, {minutes:.1f} GPU minutes",
            )
        )
    rows = tuple((d.day.isoformat(), d.jobs, round(d.gpu_seconds / 60, 1)) for d in days)
    return Chart(WIDTH, HEIGHT, tuple(bars), round(peak, 1), rows)
