"""Wrong way: moving against the zone's allowed direction, fast enough, for long enough.

Parameters: ``vigie_core.rules.WrongWaySpec``.
"""

from __future__ import annotations

import math
from typing import Any

from vigie_core.analytics.explain import fmt
from vigie_core.analytics.rules.registry import Seen, StayRule, register
from vigie_core.analytics.visit import Since, Visit, reached
from vigie_core.rules import WrongWaySpec
from vigie_core.types import EventKind


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
