"""One stay of one track in one zone, which the per-stay rules (``rules``) measure.

A stay starts on the first observed anchor inside and ends once the anchor has been seen outside
for the zone's exit grace; leaving and coming back is a new stay. Each rule raises at most once
per stay. What a rule measures during the stay (since when someone has been going the wrong way,
where a car stopped) is the rule's own business: the stay keeps it under the rule's name, so a
new rule needs no new field here, and restarts it when the zone's schedule closes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from vigie_core.snapshots import (
    as_float,
    as_list,
    as_mapping,
    invalid,
    key,
    optional,
)
from vigie_core.snapshots import field as read_field
from vigie_core.types import EventKind

# Frame times are floats: 0.5 s after a frame may compute as 0.49999999. This slack keeps a rule
# that reaches its threshold on the intended frame from firing one frame late.
TIME_SLACK_S = 1e-6


def reached(elapsed: float, threshold: float) -> bool:
    return elapsed + TIME_SLACK_S >= threshold


class Measure(Protocol):
    """What a rule keeps running during a stay; saved as plain JSON values."""

    def snapshot(self) -> Any: ...


class MeasureReader(Protocol):
    """The part of a rule that reads its measures back (see ``rules.registry.StayRule``)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> EventKind: ...

    def read_measure(self, value: Any, where: str) -> Measure: ...


M = TypeVar("M", bound=Measure)


@dataclass(slots=True)
class Since:
    """A condition has held since ``at`` (the measure of a rule that needs it for a time)."""

    at: float

    def snapshot(self) -> float:
        return float(self.at)

    @classmethod
    def restore(cls, value: Any, where: str) -> Since:
        return cls(as_float(value, where))


@dataclass(slots=True)
class Visit:
    """One stay of a track in one zone, from its first observed anchor inside."""

    entered_at: float
    raised: set[EventKind] = field(default_factory=set)
    measures: dict[str, Measure] = field(default_factory=dict)  # by rule name
    outside_since: float | None = None  # first frame seen outside since last seen inside

    def left(self, now: float, grace_s: float) -> bool:
        """Record a frame seen outside; True once outside for ``grace_s`` (the stay is over)."""
        if self.outside_since is None:
            self.outside_since = now
        return reached(now - self.outside_since, grace_s)

    def dwell(self, now: float) -> float:
        return max(0.0, now - self.entered_at)

    def measure(self, rule: str, start: Callable[[], M]) -> M:
        """``rule``'s running measure, started by ``start`` when it has none yet."""
        current = self.measures.get(rule)
        if current is None:
            current = self.measures[rule] = start()
        return cast(M, current)

    def held_since(self, rule: str, now: float) -> float:
        """Since when ``rule``'s condition has held, counting from ``now`` if it just began."""
        return self.measure(rule, lambda: Since(now)).at

    def stop(self, rule: str) -> None:
        """``rule``'s condition no longer holds: its measure starts afresh next time."""
        self.measures.pop(rule, None)

    def restart_measures(self) -> None:
        """Forget what the rules were measuring (not the stay, not what was raised)."""
        self.measures.clear()

    def snapshot(self) -> dict[str, Any]:
        """The stay as plain JSON values; ``raised`` sorted so equal stays save equal text."""
        return {
            "entered_at": float(self.entered_at),
            "outside_since": None if self.outside_since is None else float(self.outside_since),
            "raised": sorted(kind.value for kind in self.raised),
            "measures": {name: measure.snapshot() for name, measure in self.measures.items()},
        }

    @classmethod
    def restore(cls, value: Any, where: str, rules: Iterable[MeasureReader]) -> Visit:
        """A stay under the zone's ``rules``: only they can have raised or be measuring."""
        by_name = {rule.name: rule for rule in rules}
        kinds = {rule.kind.value: rule.kind for rule in by_name.values()}
        obj = as_mapping(value, where)
        entered_at = as_float(read_field(obj, "entered_at", where), f"{where}.entered_at")
        visit = cls(entered_at=entered_at)
        raw_outside = read_field(obj, "outside_since", where)
        visit.outside_since = optional(raw_outside, f"{where}.outside_since", as_float)
        for i, raw in enumerate(as_list(read_field(obj, "raised", where), f"{where}.raised")):
            at = f"{where}.raised[{i}]"
            kind = kinds.get(raw) if isinstance(raw, str) else None
            if kind is None:
                names = ", ".join(sorted(kinds)) or "none"
                raise invalid(at, f"expected a kind this zone raises ({names}), got {raw!r}")
            if kind in visit.raised:
                raise invalid(at, f"{kind.value!r} listed twice")
            visit.raised.add(kind)
        at = f"{where}.measures"
        for name, raw in as_mapping(read_field(obj, "measures", where), at).items():
            rule = by_name.get(name)
            if rule is None:
                raise invalid(key(at, name), "no such rule in this zone")
            visit.measures[name] = rule.read_measure(raw, key(at, name))
        return visit
