"""Occupancy and footfall per zone and period: in, out, present at the end, peak.

A person counts as present while their last observed anchor is in the zone, lost or not: someone
hidden behind another has not left. They leave when seen outside or when their track ends. One
OCCUPANCY event closes each period (on the first frame of the next one); a period with no frame
at all (the camera was down) produces no event rather than a misleading zero.
"""

from __future__ import annotations

import math
from collections.abc import Set

from vigie_core.analytics.explain import fmt, make_event
from vigie_core.rules import OccupancySpec
from vigie_core.types import Event, EventKind, FrameRef


class OccupancyCounter:
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
