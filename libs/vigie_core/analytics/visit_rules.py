"""Rules about one track during one stay in one zone: loitering, wrong way, a stopped vehicle,
a person on the ground. Each raises at most once per stay; leaving and coming back is a new stay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vigie_core.analytics.explain import fmt
from vigie_core.analytics.motion import Stillness
from vigie_core.geometry import Point
from vigie_core.rules import LoiteringSpec, PersonDownSpec, StoppedVehicleSpec, WrongWaySpec
from vigie_core.types import Box, EventKind, FrameRef

# Frame times are floats: 0.5 s after a frame may compute as 0.49999999. This slack keeps a rule
# that reaches its threshold on the intended frame from firing one frame late.
TIME_SLACK_S = 1e-6


@dataclass(slots=True)
class Visit:
    """One stay of a track in one zone, from its first observed anchor inside."""

    entered_at: float
    raised: set[EventKind] = field(default_factory=set)
    against_since: float | None = None
    still: Stillness = field(default_factory=Stillness)
    down_since: float | None = None
    outside_since: float | None = None  # first frame seen outside since last seen inside

    def left(self, now: float, grace_s: float) -> bool:
        """Record a frame seen outside; True once outside for ``grace_s`` (the stay is over)."""
        if self.outside_since is None:
            self.outside_since = now
        return reached(now - self.outside_since, grace_s)

    def dwell(self, now: float) -> float:
        return max(0.0, now - self.entered_at)

    def restart_measures(self) -> None:
        """Forget what the movement rules were measuring (not the stay, not what was raised)."""
        self.against_since = None
        self.down_since = None
        self.still = Stillness()


def reached(elapsed: float, threshold: float) -> bool:
    return elapsed + TIME_SLACK_S >= threshold


def loitering(spec: LoiteringSpec, visit: Visit, now: float) -> dict[str, str] | None:
    dwell = visit.dwell(now)
    if not reached(dwell, spec.max_dwell_s):
        return None
    return {"dwell_s": fmt(dwell), "max_dwell_s": fmt(spec.max_dwell_s)}


def wrong_way(
    spec: WrongWaySpec, visit: Visit, velocity: tuple[float, float] | None, now: float
) -> dict[str, str] | None:
    """Against the expected direction, fast enough, for long enough."""
    if velocity is None:
        return None
    speed = math.hypot(*velocity)
    if speed < spec.min_speed:
        visit.against_since = None
        return None
    cosine = (velocity[0] * spec.direction[0] + velocity[1] * spec.direction[1]) / speed
    angle = math.degrees(math.acos(max(-1.0, min(1.0, cosine))))
    if angle < 180.0 - spec.tolerance_deg:
        visit.against_since = None
        return None
    if visit.against_since is None:
        visit.against_since = now
    duration = now - visit.against_since
    if not reached(duration, spec.min_duration_s):
        return None
    return {
        "angle_deg": fmt(angle),
        "max_angle_deg": fmt(180.0 - spec.tolerance_deg),
        "speed": fmt(speed),
        "min_speed": fmt(spec.min_speed),
        "duration_s": fmt(duration),
        "expected_dx": fmt(spec.direction[0]),
        "expected_dy": fmt(spec.direction[1]),
    }


def stopped_vehicle(
    spec: StoppedVehicleSpec, visit: Visit, anchor: Point, now: float
) -> dict[str, str] | None:
    still_s = visit.still.update(now, anchor, spec.still_radius)
    if not reached(still_s, spec.max_stop_s):
        return None
    return {"stopped_s": fmt(still_s), "max_stop_s": fmt(spec.max_stop_s)}


def pixel_ratio(box: Box, frame: FrameRef) -> float:
    """Width over height of the box in pixels (normalised boxes distort it by the frame's
    aspect); a frame of unknown size is taken as 16:9."""
    width, height = (frame.width, frame.height) if frame.width and frame.height else (16, 9)
    h = box.height * height
    return math.inf if h <= 0 else box.width * width / h


def person_down(
    spec: PersonDownSpec,
    visit: Visit,
    ratio: float,
    speed: float | None,
    has_stood: bool,
    now: float,
) -> dict[str, str] | None:
    """Lying (wide box), hardly moving, for ``min_down_s``, after having been seen standing."""
    # An unmeasured speed (the first half-second of a track) is not "hardly moving".
    lying = (
        has_stood and ratio >= spec.lying_ratio and speed is not None and speed <= spec.max_speed
    )
    if not lying:
        visit.down_since = None
        return None
    if visit.down_since is None:
        visit.down_since = now
    down_s = now - visit.down_since
    if not reached(down_s, spec.min_down_s):
        return None
    return {
        "box_ratio": fmt(ratio),
        "lying_ratio": fmt(spec.lying_ratio),
        "down_s": fmt(down_s),
        "min_down_s": fmt(spec.min_down_s),
        "speed": "" if speed is None else fmt(speed),
    }
