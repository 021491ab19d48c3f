"""How a track has been moving: its recent observed anchors, and how long it has stood still.

Speeds come from positions some time apart (``window_s``), not from consecutive frames: at 10 fps
a box jittering by 1% of the frame would otherwise read as 0.1 frame/s of "movement".
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from vigie_core.calibration import GroundPlane
from vigie_core.geometry import Point


class Motion:
    """Observed anchors over the last ``horizon_s`` seconds."""

    def __init__(self, horizon_s: float = 5.0) -> None:
        self._horizon_s = horizon_s
        self._points: deque[tuple[float, Point]] = deque()

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
