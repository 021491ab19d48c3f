"""Loitering: someone staying in the zone longer than ``max_dwell_s``, once per stay.

Parameters: ``vigie_core.rules.LoiteringSpec``.
"""

from __future__ import annotations

from vigie_core.analytics.explain import fmt
from vigie_core.analytics.rules.registry import Seen, StayRule, register
from vigie_core.analytics.visit import Visit, reached
from vigie_core.rules import LoiteringSpec
from vigie_core.types import EventKind


@register
class Loitering(StayRule[LoiteringSpec]):
    name = "loitering"
    params = LoiteringSpec
    kind = EventKind.LOITERING

    def applies(self, params: LoiteringSpec, class_name: str) -> bool:
        return class_name in params.classes

    def check(self, params: LoiteringSpec, visit: Visit, seen: Seen) -> dict[str, str] | None:
        dwell = visit.dwell(seen.now)
        if not reached(dwell, params.max_dwell_s):
            return None
        return {"dwell_s": fmt(dwell), "max_dwell_s": fmt(params.max_dwell_s)}
