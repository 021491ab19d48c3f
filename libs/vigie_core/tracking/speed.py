"""How fast a track's ground anchor moved: its mean and its peak speed over real elapsed time.

Unit. The meter measures distances in whatever plane it is fed, per second of capture time. The
tracker feeds it the bottom-centre of the filtered box in normalised frame coordinates (x across,
y down, each 0..1 of its side of the frame), so a track's speeds are in *frame units per
second*: 0.2 is a fifth of the frame per second. This is what the tracker can measure without
knowing the scene, and it is good for comparing tracks of one camera ("the fastest vehicles on
camera 3", "people running"), but it is not a physical speed: a unit is more pixels across than
down on a wide frame, and perspective makes the same real speed read larger near the camera
than far from it. Do not compare the figures across cameras.

Metric speed needs a ground calibration per camera (image points to metres on the ground, e.g.
a homography from four marked points), which will come with the scene configuration. Nothing
here assumes the unit: fed ground positions in metres, the same meter gives metres per second,
so the calibration plugs in where the tracker computes the anchor it feeds.

Why windows. From one frame to the next a detector's box wanders by a few pixels whatever the
object does; divided by a 40 ms interval that reads as a brisk walk for someone standing still,
and the Kalman filter smooths it without removing it. Over a window of ``window_s`` or more, the
displacement of real motion grows with the time while jitter stays the same size, so speeds
measured over windows approach the real speed. Times are the frames' capture times: a dropped
frame or an irregular interval makes a window longer in time and in distance alike, never
shorter in time alone, so neither can inflate a speed.

* ``mean``: the distance covered, window after window (each window at least ``window_s`` long,
  starting where the previous one ended), over the time those windows span; the trailing part
  shorter than a window is included. It is the average speed while tracked: someone pacing back
  and forth has a mean speed, unlike their net displacement.
* ``peak``: the highest speed over any window of at least ``window_s`` ending at an observation
  (a sliding window, so a burst between two of ``mean``'s windows is not halved). It is never
  below ``mean``: a track shorter than one window has a single speed, first to last sighting,
  and reports it as both.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from vigie_core.tracking.state import as_float, as_list, as_mapping, as_point, field, invalid

Point = tuple[float, float, float]  # (t, x, y)

# Frame times are floats: a window 0.5 s long may compute as 0.49999999. This slack keeps a
# window closing on the intended frame without affecting any real interval.
_TIME_SLACK_S = 1e-6


def _distance(a: Point, b: Point) -> float:
    return math.hypot(b[1] - a[1], b[2] - a[2])


class SpeedMeter:
    """Mean and peak speed of one track; see the module docstring for what they mean."""

    __slots__ = ("_distance", "_duration", "_peak", "_recent", "_start", "_window_s")

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._start: Point | None = None  # where ``mean``'s current window began
        self._distance = 0.0  # covered by ``mean``'s closed windows
        self._duration = 0.0  # spanned by them
        self._peak = 0.0  # fastest closed sliding window
        # The points of the last ``window_s``, plus the newest one at least that much older than
        # the latest: the start of the sliding window that ends at the latest point.
        self._recent: deque[Point] = deque()

    def add(self, t: float, x: float, y: float) -> None:
        """One observation; times strictly increase from call to call. (Called for every
        matched track on every frame, hence written for speed.)"""
        point = (t, x, y)
        # A window starting at or before this time, ending now, is at least ``window_s`` long.
        reach = t - self._window_s + _TIME_SLACK_S
        start = self._start
        if start is None:
            self._start = point
        elif start[0] <= reach:
            self._distance += math.hypot(x - start[1], y - start[2])
            self._duration += t - start[0]
            self._start = point
        recent = self._recent
        while len(recent) >= 2 and recent[1][0] <= reach:
            recent.popleft()
        if recent:
            first = recent[0]
            if first[0] <= reach:
                speed = math.hypot(x - first[1], y - first[2]) / (t - first[0])
                if speed > self._peak:
                    self._peak = speed
        recent.append(point)

    def mean(self) -> float:
        distance, duration = self._distance, self._duration
        start, latest = self._start, (self._recent[-1] if self._recent else None)
        if start is not None and latest is not None and latest[0] > start[0]:
            distance += _distance(start, latest)
            duration += latest[0] - start[0]
        return distance / duration if duration > 0 else 0.0

    def peak(self) -> float:
        return max(self._peak, self.mean())

    # --- snapshot ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-ready state for the tracker's snapshot."""
        return {
            "start": None if self._start is None else list(self._start),
            "distance": float(self._distance),
            "duration": float(self._duration),
            "peak": float(self._peak),
            "recent": [list(p) for p in self._recent],
        }

    @classmethod
    def read(cls, value: Any, where: str, window_s: float) -> SpeedMeter:
        """Resumes from ``state``'s output, checking every field. The window comes from the
        current settings, as the path's interval does."""
        state: Mapping[str, Any] = as_mapping(value, where)
        meter = cls(window_s)
        raw_start = field(state, "start", where)
        meter._start = None if raw_start is None else as_point(raw_start, f"{where}.start")
        for key in ("distance", "duration", "peak"):
            number = as_float(field(state, key, where), f"{where}.{key}")
            if number < 0:
                raise invalid(f"{where}.{key}", f"expected a number >= 0, got {number!r}")
            setattr(meter, f"_{key}", number)
        recent = [
            as_point(p, f"{where}.recent[{i}]")
            for i, p in enumerate(as_list(field(state, "recent", where), f"{where}.recent"))
        ]
        if any(b[0] <= a[0] for a, b in pairwise(recent)):
            raise invalid(f"{where}.recent", "times must strictly increase")
        if (meter._start is None) != (not recent):
            raise invalid(where, "a meter has both a window start and recent points, or neither")
        meter._recent = deque(recent)
        return meter
