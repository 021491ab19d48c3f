"""Loitering: someone staying in the zone longer than ``max_dwell_s``, once per stay."""

from __future__ import annotations

from dataclasses import dataclass

from vigie_core.analytics.explain import fmt
from vigie_core.analytics.rules.registry import Seen, StayRule, register
from vigie_core.analytics.visit import Visit, reached
from vigie_core.rules import PERSON, class_set, positive
from vigie_core.types import EventKind


@dataclass(frozen=True, slots=True)
class LoiteringSpec:
    """Someone staying in the zone longer than ``max_dwell_s``: one event per stay."""

    max_dwell_s: float = 60.0
    classes: frozenset[str] = PERSON

    def __post_init__(self) -> None:
        positive(self.max_dwell_s, "loitering.max_dwell_s")
        object.__setattr__(self, "classes", class_set(self.classes))


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
