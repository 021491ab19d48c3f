"""What a report shows, computed from archived rows: occupancy per zone over time, and where
people stood over the frame. Pure: the CLI reads the archive and draws."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from vigie_core.types import Event, EventKind, TrackSummary

Row = TypeVar("Row")
Key = TypeVar("Key", bound=Hashable)


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
    return occupancy_by(events, lambda event: event.zone)


def occupancy_by(
    events: Iterable[Event], key: Callable[[Event], Key]
) -> dict[Key, list[OccupancyPoint]]:
    """Periods grouped by ``key`` of their event (a zone; a camera and a zone when the events
    come from several cameras, whose zones may share names), each group in time order; a
    replayed event (same id) counts once."""
    seen: set[str] = set()
    series: dict[Key, list[OccupancyPoint]] = {}
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
        series.setdefault(key(event), []).append(point)
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


class TooManyRows(Exception):
    """A report would read more rows than it is allowed to: it is refused rather than drawn
    from a part of the range that looks like the whole of it."""

    def __init__(self, at_most: int) -> None:
        super().__init__(f"more than {at_most} rows")
        self.at_most = at_most


def every_row(
    search: Callable[[Any], list[Row]],
    query: Any,
    time_of: Callable[[Row], float],
    at_most: int | None = None,
    after: Callable[[Row], Any] | None = None,
) -> Iterator[Row]:
    """Every row of a search (an archive's, whose ``query`` is a dataclass with ``since`` and
    ``limit``, ``limit`` capped by the archive), page after page; a page boundary that falls
    inside rows sharing one time restarts at that time, and rows already returned are skipped.
    With ``at_most``, more rows than that raise :class:`TooManyRows` instead of being read.

    Restarting at a time, a page made only of rows already returned ends the walk: it happens
    when a whole page of rows start before the restart time and end after it (alerts and
    tracks match a window by overlap). A search that takes a keyset cursor (``query.after``)
    avoids it: ``after`` gives the cursor past a row, and each page then starts exactly after
    the previous one."""
    seen: set[str] = set()
    while True:
        page = search(query)
        fresh = [r for r in page if _id_of(r) not in seen]
        if at_most is not None and len(seen) + len(fresh) > at_most:
            raise TooManyRows(at_most)
        yield from fresh
        seen.update(_id_of(r) for r in fresh)
        if len(page) < query.limit or not fresh:
            return
        if after is not None:
            query = replace(query, after=after(page[-1]))
        else:
            query = replace(query, since=time_of(page[-1]))


def _id_of(row: Any) -> str:
    for name in ("event_id", "alert_id", "track_id"):
        value = getattr(row, name, None)
        if value:
            return str(value)
    raise TypeError(f"no id on {type(row).__name__}")
