"""What a report shows, computed from archived rows: occupancy per zone over time, and where
people stood over the frame. Pure: the CLI reads the archive and draws."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vigie_core.types import Event, EventKind, TrackSummary


@dataclass(frozen=True, slots=True)
class OccupancyPoint:
    """One closed period of one zone, as the OCCUPANCY event gave it."""

    start: float
    period_s: float
    came_in: int
    went_out: int
    present: int
    peak: int


def occupancy_series(events: Iterable[Event]) -> dict[str, list[OccupancyPoint]]:
    """Per zone, its periods in time order; a replayed event (same id) counts once."""
    seen: set[str] = set()
    series: dict[str, list[OccupancyPoint]] = {}
    for event in events:
        if event.kind is not EventKind.OCCUPANCY or event.event_id in seen:
            continue
        seen.add(event.event_id)
        d = event.details
        point = OccupancyPoint(
            start=float(d["period_start"]),
            period_s=float(d["period_s"]),
            came_in=int(d["in"]),
            went_out=int(d["out"]),
            present=int(d["present"]),
            peak=int(d["peak"]),
        )
        series.setdefault(event.zone, []).append(point)
    for points in series.values():
        points.sort(key=lambda p: p.start)
    return series


def position_grid(
    summaries: Iterable[TrackSummary],
    cols: int = 48,
    rows: int = 27,
    class_name: str = "person",
    since: float | None = None,
    until: float | None = None,
) -> list[list[int]]:
    """How many path points of ``class_name`` tracks fell in each cell of the frame (rows top to
    bottom). Paths are time-downsampled, so a cell's count is proportional to time spent there."""
    grid = [[0] * cols for _ in range(rows)]
    for summary in summaries:
        if summary.class_name != class_name:
            continue
        for t, x, y in summary.path:
            if (since is not None and t < since) or (until is not None and t >= until):
                continue
            col = min(cols - 1, max(0, int(x * cols)))
            row = min(rows - 1, max(0, int(y * rows)))
            grid[row][col] += 1
    return grid
