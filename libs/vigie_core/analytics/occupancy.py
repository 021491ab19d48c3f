"""Occupancy and footfall per zone and period: in, out, present at the end, peak.

A person counts as present while their last observed anchor is in the zone, lost or not: someone
hidden behind another has not left. They leave when seen outside or when their track ends. One
OCCUPANCY event closes each period (on the first frame of the next one); a period with no frame
at all (the camera was down) produces no event rather than a misleading zero.

The open period's counts are saved as plain JSON values (``snapshot``) and read back
(``restore``), so a restart within a period neither loses its arrivals nor counts those present
as arriving again.
"""

from __future__ import annotations

import math
from collections.abc import Set
from typing import Any

from vigie_core.analytics.explain import fmt, make_event
from vigie_core.rules import OccupancySpec
from vigie_core.snapshots import as_int, as_list, as_mapping, as_str, field, invalid, optional
from vigie_core.types import Event, EventKind, FrameRef


class OccupancyCounter:
    """One zone's footfall over the current period."""

    def __init__(self, zone: str, spec: OccupancySpec) -> None:
        self.zone, self.spec = zone, spec
        self._period: int | None = None
        self._inside: frozenset[str] = frozenset()
        self._came_in = 0
        self._went_out = 0
        self._peak = 0

    def update(self, frame: FrameRef, inside: Set[str]) -> list[Event]:
        period = math.floor(frame.captured_at / self.spec.period_s)
        events = []
        if self._period is not None and period > self._period:
            events.append(self._close(frame))
            self._came_in = self._went_out = 0
            self._peak = len(self._inside)
        if self._period is None or period > self._period:
            self._period = period
        now_inside = frozenset(inside)
        self._came_in += len(now_inside - self._inside)
        self._went_out += len(self._inside - now_inside)
        self._inside = now_inside
        self._peak = max(self._peak, len(now_inside))
        return events

    def snapshot(self) -> dict[str, Any]:
        """The current period (its number, null before the first frame) and its counts."""
        return {
            "period": self._period,
            "inside": sorted(self._inside),
            "in": self._came_in,
            "out": self._went_out,
            "peak": self._peak,
        }

    @classmethod
    def restore(cls, zone: str, spec: OccupancySpec, value: Any, where: str) -> OccupancyCounter:
        obj = as_mapping(value, where)
        counter = cls(zone, spec)
        counter._period = optional(
            field(obj, "period", where), f"{where}.period", lambda v, w: as_int(v, w, None)
        )
        raw_inside = as_list(field(obj, "inside", where), f"{where}.inside")
        inside = [as_str(raw, f"{where}.inside[{i}]") for i, raw in enumerate(raw_inside)]
        if len(set(inside)) != len(inside):
            raise invalid(f"{where}.inside", "a track is listed twice")
        counter._inside = frozenset(inside)
        counter._came_in = as_int(field(obj, "in", where), f"{where}.in", minimum=0)
        counter._went_out = as_int(field(obj, "out", where), f"{where}.out", minimum=0)
        counter._peak = as_int(field(obj, "peak", where), f"{where}.peak", minimum=len(inside))
        if counter._period is None and (inside or counter._came_in or counter._went_out):
            raise invalid(where, "counts without a period")
        return counter

    def _close(self, frame: FrameRef) -> Event:
        assert self._period is not None
        start = self._period * self.spec.period_s
        return make_event(
            EventKind.OCCUPANCY,
            frame,
            self.zone,
            class_name=",".join(sorted(self.spec.classes)),
            details={
                "period_start": fmt(start),
                "period_s": fmt(self.spec.period_s),
                "in": str(self._came_in),
                "out": str(self._went_out),
                "present": str(len(self._inside)),
                "peak": str(self._peak),
            },
        )
