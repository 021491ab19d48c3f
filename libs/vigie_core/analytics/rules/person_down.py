"""Person down: seen standing, then a wide box that stays down, hardly moving, for a while."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vigie_core.analytics.explain import fmt
from vigie_core.analytics.rules.registry import Seen, StayRule, register
from vigie_core.analytics.visit import Since, Visit, reached
from vigie_core.rules import positive
from vigie_core.snapshots import invalid
from vigie_core.types import EventKind


@dataclass(frozen=True, slots=True)
class PersonDownSpec:
    """A person whose box turns from standing to lying and stays down, hardly moving.

    Ratios are of the box in pixels (width / height): standing people are about 0.3-0.6, lying
    ones well above 1. The person must first have been seen standing (ratio below
    ``standing_ratio``), so someone already lying on a bench when the camera starts, or a box
    cut by the frame edge, is not "a fall".
    """

    min_down_s: float = 5.0
    lying_ratio: float = 1.2
    standing_ratio: float = 0.8
    max_speed: float = 0.05

    def __post_init__(self) -> None:
        positive(self.min_down_s, "person_down.min_down_s")
        positive(self.lying_ratio, "person_down.lying_ratio")
        positive(self.standing_ratio, "person_down.standing_ratio")
        if self.standing_ratio >= self.lying_ratio:
            raise ValueError("person_down.standing_ratio must be below person_down.lying_ratio")
        positive(self.max_speed, "person_down.max_speed")


@register
class PersonDown(StayRule[PersonDownSpec]):
    """Measures since when the person has been down (a ``Since``); notes about each person
    whether they have been seen standing, anywhere on the frame (``True`` once they have)."""

    name = "person_down"
    params = PersonDownSpec
    kind = EventKind.PERSON_DOWN

    def applies(self, params: PersonDownSpec, class_name: str) -> bool:
        return class_name == "person"

    def check(self, params: PersonDownSpec, visit: Visit, seen: Seen) -> dict[str, str] | None:
        """Lying (wide box), hardly moving, for ``min_down_s``, after having been seen
        standing."""
        ratio, speed = seen.box_ratio(), seen.speed()
        has_stood = seen.notes.get(self.name) is True
        # An unmeasured speed (the first half-second of a track) is not "hardly moving".
        lying = (
            has_stood
            and ratio >= params.lying_ratio
            and speed is not None
            and speed <= params.max_speed
        )
        if not lying:
            visit.stop(self.name)
            return None
        down_s = seen.now - visit.held_since(self.name, seen.now)
        if not reached(down_s, params.min_down_s):
            return None
        return {
            "box_ratio": fmt(ratio),
            "lying_ratio": fmt(params.lying_ratio),
            "down_s": fmt(down_s),
            "min_down_s": fmt(params.min_down_s),
            "speed": "" if speed is None else fmt(speed),
        }

    def read_measure(self, value: Any, where: str) -> Since:
        return Since.restore(value, where)

    def follow(self, params: Sequence[PersonDownSpec], seen: Seen, note: Any) -> Any:
        """Standing means narrower than the strictest ``standing_ratio`` of the camera's zones."""
        if seen.track.class_name != "person":
            return note
        if seen.box_ratio() < min(p.standing_ratio for p in params):
            return True
        return note

    def read_note(self, value: Any, where: str) -> bool:
        if value is not True:
            raise invalid(where, f"expected true (seen standing), got {value!r}")
        return True
