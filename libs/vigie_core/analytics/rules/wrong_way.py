"""Wrong way: moving against the zone's allowed direction, fast enough, for long enough."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vigie_core.analytics.explain import fmt
from vigie_core.analytics.rules.registry import Seen, StayRule, register
from vigie_core.analytics.visit import Since, Visit, reached
from vigie_core.rules import PERSON, VEHICLES, class_set, non_negative, positive
from vigie_core.types import EventKind


@dataclass(frozen=True, slots=True)
class WrongWaySpec:
    """Moving against the zone's expected direction (a one-way corridor, an exit lane).

    ``direction`` is the allowed way in image coordinates (x right, y down; normalised to unit
    length). Movement whose direction is more than ``180 - tolerance_deg`` degrees away from it,
    at ``min_speed`` or faster, for ``min_duration_s``, is wrong-way: a few steps sideways or
    a pause are not.
    """

    direction: tuple[float, float]
    classes: frozenset[str] = PERSON | VEHICLES
    min_speed: float = 0.03
    tolerance_deg: float = 45.0
    min_duration_s: float = 1.0

    def __post_init__(self) -> None:
        if len(self.direction) != 2:
            raise ValueError(f"wrong_way.direction must be [dx, dy], got {self.direction}")
        dx, dy = (float(v) for v in self.direction)
        norm = math.hypot(dx, dy)
        if not math.isfinite(norm) or norm <= 1e-9:
            raise ValueError(f"wrong_way.direction must be a non-zero vector, got {self.direction}")
        object.__setattr__(self, "direction", (dx / norm, dy / norm))
        object.__setattr__(self, "classes", class_set(self.classes))
        positive(self.min_speed, "wrong_way.min_speed")
        if not 0.0 < self.tolerance_deg < 90.0:
            raise ValueError(
                f"wrong_way.tolerance_deg must be in (0, 90), got {self.tolerance_deg}"
            )
        non_negative(self.min_duration_s, "wrong_way.min_duration_s")


@register
class WrongWay(StayRule[WrongWaySpec]):
    """Measures since when the track has been going against the way (a ``Since``)."""

    name = "wrong_way"
    params = WrongWaySpec
    kind = EventKind.WRONG_WAY

    def applies(self, params: WrongWaySpec, class_name: str) -> bool:
        return class_name in params.classes

    def check(self, params: WrongWaySpec, visit: Visit, seen: Seen) -> dict[str, str] | None:
        velocity = seen.velocity()
        if velocity is None:
            return None
        speed = math.hypot(*velocity)
        if speed < params.min_speed:
            visit.stop(self.name)
            return None
        direction = params.direction
        cosine = (velocity[0] * direction[0] + velocity[1] * direction[1]) / speed
        angle = math.degrees(math.acos(max(-1.0, min(1.0, cosine))))
        if angle < 180.0 - params.tolerance_deg:
            visit.stop(self.name)
            return None
        duration = seen.now - visit.held_since(self.name, seen.now)
        if not reached(duration, params.min_duration_s):
            return None
        return {
            "angle_deg": fmt(angle),
            "max_angle_deg": fmt(180.0 - params.tolerance_deg),
            "speed": fmt(speed),
            "min_speed": fmt(params.min_speed),
            "duration_s": fmt(duration),
            "expected_dx": fmt(direction[0]),
            "expected_dy": fmt(direction[1]),
        }

    def read_measure(self, value: Any, where: str) -> Since:
        return Since.restore(value, where)
