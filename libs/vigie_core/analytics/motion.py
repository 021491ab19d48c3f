"""How a track has been moving: its recent observed anchors, and how long it has stood still.

Speeds come from positions some time apart (``window_s``), not from consecutive frames: at 10 fps
a box jittering by 1% of the frame would otherwise read as 0.1 frame/s of "movement".

Both save their state as plain JSON values (``snapshot``) and are rebuilt from it, checked
field by field (``restore``), so a camera's analytics resume after a restart.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from vigie_core.calibration import GroundPlane
from vigie_core.geometry import Point
from vigie_core.snapshots import (
    as_float,
    as_int,
    as_list,
    as_mapping,
    as_point,
    as_xy,
    field,
    invalid,
    optional,
)

DEFAULT_HORIZON_S = 5.0

# Speeds are measured over this long: long enough to average out box jitter at 10 fps.
SPEED_WINDOW_S = 1.0


class Motion:
    """Observed anchors over the last ``horizon_s`` seconds."""

    def __init__(self, horizon_s: float = DEFAULT_HORIZON_S) -> None:
        self._horizon_s = horizon_s
        self._points: deque[tuple[float, Point]] = deque()

    def snapshot(self) -> list[list[float]]:
        """The anchors kept, oldest first, as ``[t, x, y]``: at most ``horizon_s`` of them."""
        return [[float(t), float(x), float(y)] for t, (x, y) in self._points]

    @classmethod
    def restore(cls, value: Any, where: str, horizon_s: float = DEFAULT_HORIZON_S) -> Motion:
        """The ``Motion`` a ``snapshot`` was taken of; times must run forward and span no more
        than ``horizon_s`` (what ``add`` would have kept)."""
        motion = cls(horizon_s)
        for i, raw in enumerate(as_list(value, where)):
            t, x, y = as_point(raw, f"{where}[{i}]")
            if motion._points and t < motion._points[-1][0]:
                raise invalid(f"{where}[{i}]", "times must not go backwards")
            motion._points.append((t, (x, y)))
        if motion._points and motion._points[-1][0] - motion._points[0][0] > horizon_s:
            raise invalid(where, f"points span more than the {horizon_s} s horizon")
        return motion

    def add(self, t: float, anchor: Point) -> None:
        self._points.append((t, anchor))
        while self._points and t - self._points[0][0] > self._horizon_s:
            self._points.popleft()

    def velocity(self, window_s: float = 1.0) -> tuple[float, float] | None:
        """Mean velocity over about the last ``window_s`` (units/s); None until half of it has
        been observed, since a speed over one frame interval is mostly jitter."""
        if len(self._points) < 2:
            return None
        t_now, (x_now, y_now) = self._points[-1]
        start = self._points[0]
        for point in reversed(self._points):
            if t_now - point[0] >= window_s:
                start = point
                break
        t0, (x0, y0) = start
        span = t_now - t0
        if span < window_s / 2:
            return None
        return ((x_now - x0) / span, (y_now - y0) / span)

    def speed(self, window_s: float = 1.0, ground: GroundPlane | None = None) -> float | None:
        """Speed over about ``window_s``: normalised units/s, or m/s on a calibrated ground."""
        if ground is None:
            velocity = self.velocity(window_s)
            return None if velocity is None else math.hypot(*velocity)
        if len(self._points) < 2:
            return None
        t_now, now = self._points[-1]
        start = next((p for p in reversed(self._points) if t_now - p[0] >= window_s), None)
        t0, then = start if start is not None else self._points[0]
        if t_now - t0 < window_s / 2:
            return None
        return ground.distance_m(then, now) / (t_now - t0)


@dataclass(slots=True)
class Stillness:
    """Since when an anchor has stayed within ``radius`` of where it stopped.

    "Where it stopped" is the mean of the anchors since then, not the first of them: that one is
    a jittered sample itself, and measuring from it would put a parked car's next jittered
    anchor beyond the radius now and then, restarting the stop again and again.
    """

    since: float | None = None
    at: Point | None = None
    samples: int = 0

    def snapshot(self) -> dict[str, Any]:
        at = None if self.at is None else [float(self.at[0]), float(self.at[1])]
        since = None if self.since is None else float(self.since)
        return {"since": since, "at": at, "samples": self.samples}

    @classmethod
    def restore(cls, value: Any, where: str) -> Stillness:
        """Not stopped yet (all empty), or stopped at a place since a time over some samples."""
        obj = as_mapping(value, where)
        since = optional(field(obj, "since", where), f"{where}.since", as_float)
        at = optional(field(obj, "at", where), f"{where}.at", as_xy)
        samples = as_int(field(obj, "samples", where), f"{where}.samples", minimum=0)
        if (since is None) != (at is None) or (since is None) != (samples == 0):
            raise invalid(where, "since, at and samples are all set or all empty")
        return cls(since, at, samples)

    def update(self, t: float, anchor: Point, radius: float) -> float:
        """Seconds still so far (0 on the frame it stops or moves)."""
        if self.at is None or self.since is None or math.dist(anchor, self.at) > radius:
            self.since, self.at, self.samples = t, anchor, 1
            return 0.0
        self.samples += 1
        weight = 1.0 / self.samples
        self.at = (
            self.at[0] + weight * (anchor[0] - self.at[0]),
            self.at[1] + weight * (anchor[1] - self.at[1]),
        )
        return t - self.since
