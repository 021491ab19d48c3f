"""Intrusion: a track of a forbidden class whose anchor stays in the zone for ``min_dwell_s``.

The zone's first rule, and the only one whose parameters are the zone's own fields
(``classes``, ``allowed_classes``, ``min_dwell_s``; ``intrusion: false`` turns it off), as the
scene file has always spelt them.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigie_core.analytics.explain import fmt
from vigie_core.analytics.rules.registry import Seen, StayRule, register
from vigie_core.analytics.visit import Visit, reached
from vigie_core.rules import class_set, non_negative
from vigie_core.scene import ZoneSpec
from vigie_core.types import EventKind


@dataclass(frozen=True, slots=True)
class IntrusionSpec:
    """``classes`` are forbidden (empty: every class), ``allowed_classes`` exempt."""

    classes: frozenset[str] = frozenset()
    allowed_classes: frozenset[str] = frozenset()
    min_dwell_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", class_set(self.classes))
        object.__setattr__(self, "allowed_classes", class_set(self.allowed_classes))
        non_negative(self.min_dwell_s, "intrusion.min_dwell_s")


@register
class Intrusion(StayRule[IntrusionSpec]):
    name = "intrusion"
    params = IntrusionSpec
    kind = EventKind.ZONE_INTRUSION
    inline = True

    def params_of(self, zone: ZoneSpec) -> IntrusionSpec | None:
        if not zone.intrusion:
            return None
        return IntrusionSpec(zone.classes, zone.allowed_classes, zone.min_dwell_s)

    def applies(self, params: IntrusionSpec, class_name: str) -> bool:
        if class_name in params.allowed_classes:
            return False
        return not params.classes or class_name in params.classes

    def check(self, params: IntrusionSpec, visit: Visit, seen: Seen) -> dict[str, str] | None:
        dwell = visit.dwell(seen.now)
        if not reached(dwell, params.min_dwell_s):
            return None
        return {
            "dwell_s": fmt(dwell),
            "min_dwell_s": fmt(params.min_dwell_s),
            "anchor_x": fmt(seen.anchor[0]),
            "anchor_y": fmt(seen.anchor[1]),
        }
