"""Seconds a track's ground anchor spends inside each zone of its camera's scene.

The zones are the scene's (``ZoneSpec``, the same polygons analytics applies its rules to),
handed to the tracker by whoever read the scene file: the core reads no files. Presence is
geometric: a zone's ``classes`` and ``min_dwell_s`` say when analytics raises an intrusion, not
where an object was, so they do not apply here. "How long did this car stand in the loading
bay" has an answer even if the bay only alerts on people.

Time is counted between consecutive *observations* (frames the track matched), from the capture
times, like analytics counts dwell: a lost track's predicted box is a guess and places nobody.
Where the anchor crossed an outline between two observations is unknown, so an interval counts
whole when the anchor was inside at both ends, half when it was inside at one end only (the
crossing is as likely early as late, so the halves even out over entries and exits), and not at
all otherwise. A track that is lost inside a zone and found again inside it was there all along
and counts the whole gap; one that leaves and comes back adds both stays. A zone appears in the
result once the anchor has been observed inside it, even if no time has accrued yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vigie_core.geometry import Point
from vigie_core.scene import ZoneSpec
from vigie_core.tracking.state import as_float, as_list, as_mapping, as_str, field, invalid

# ``Polygon.contains`` counts a point this close to the outline as on it, so the bounding boxes
# are widened by as much: the quick test must never refuse what the polygon would accept.
_OUTLINE_TOLERANCE = 1e-9


class ZoneMap:
    """The zones of one camera, asked which of them hold a point.

    Each polygon's bounding box is checked before the polygon itself: most anchors are far from
    most zones, and the box test costs four comparisons where the polygon's costs a loop.
    """

    __slots__ = ("_zones",)

    def __init__(self, zones: Sequence[ZoneSpec] = ()) -> None:
        names = [zone.name for zone in zones]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"zone names {duplicates} are used more than once")
        self._zones = tuple((zone.name, _bounds(zone), zone.polygon) for zone in zones)

    def __bool__(self) -> bool:
        return bool(self._zones)

    def containing(self, point: Point) -> tuple[str, ...]:
        """Names of the zones holding ``point`` (outline included, as analytics counts it),
        in the scene's order."""
        x, y = point
        return tuple(
            name
            for name, (x1, y1, x2, y2), polygon in self._zones
            if x1 <= x <= x2 and y1 <= y <= y2 and polygon.contains(point)
        )


def _bounds(zone: ZoneSpec) -> tuple[float, float, float, float]:
    xs = [p[0] for p in zone.polygon.points]
    ys = [p[1] for p in zone.polygon.points]
    slack = _OUTLINE_TOLERANCE
    return (min(xs) - slack, min(ys) - slack, max(xs) + slack, max(ys) + slack)


class ZoneClock:
    """Accumulated seconds per zone name for one track; see the module docstring."""

    __slots__ = ("_inside", "_last_time", "_seconds")

    def __init__(self) -> None:
        self._last_time: float | None = None
        self._inside: tuple[str, ...] = ()  # zones holding the anchor at the last observation
        self._seconds: dict[str, float] = {}  # in order of first entry

    def add(self, t: float, inside: tuple[str, ...]) -> None:
        """One observation at ``t`` with the anchor inside the zones named; times strictly
        increase from call to call."""
        if self._last_time is not None:
            dt = t - self._last_time
            before = self._inside
            for name in before:
                self._seconds[name] += dt if name in inside else dt / 2.0
            for name in inside:
                if name not in before:
                    self._seconds[name] = self._seconds.get(name, 0.0) + dt / 2.0
        else:
            for name in inside:
                self._seconds.setdefault(name, 0.0)
        self._last_time = t
        self._inside = inside

    def seconds(self) -> dict[str, float]:
        return dict(self._seconds)

    # --- snapshot ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-ready state. Seconds go out as [name, seconds] pairs, not an object, so the
        order of first entry survives any JSON reader."""
        return {
            "last_time": None if self._last_time is None else float(self._last_time),
            "inside": list(self._inside),
            "seconds": [[name, float(s)] for name, s in self._seconds.items()],
        }

    @classmethod
    def read(cls, value: Any, where: str) -> ZoneClock:
        """Resumes from ``state``'s output, checking every field."""
        state: Mapping[str, Any] = as_mapping(value, where)
        clock = cls()
        raw_time = field(state, "last_time", where)
        clock._last_time = None if raw_time is None else as_float(raw_time, f"{where}.last_time")
        for i, pair in enumerate(as_list(field(state, "seconds", where), f"{where}.seconds")):
            at = f"{where}.seconds[{i}]"
            entry = as_list(pair, at)
            if len(entry) != 2:
                raise invalid(at, f"expected [zone, seconds], got {len(entry)} items")
            name = as_str(entry[0], f"{at}[0]")
            if name in clock._seconds:
                raise invalid(at, f"zone {name!r} listed twice")
            seconds = as_float(entry[1], f"{at}[1]")
            if seconds < 0:
                raise invalid(f"{at}[1]", f"expected a number >= 0, got {seconds!r}")
            clock._seconds[name] = seconds
        inside = tuple(
            as_str(name, f"{where}.inside[{i}]")
            for i, name in enumerate(as_list(field(state, "inside", where), f"{where}.inside"))
        )
        unknown = [name for name in inside if name not in clock._seconds]
        if unknown:
            raise invalid(f"{where}.inside", f"zones {unknown} have no seconds")
        if inside and clock._last_time is None:
            raise invalid(where, "inside zones without a last_time")
        clock._inside = inside
        return clock
