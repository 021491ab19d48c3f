"""What the analyser remembers about one track between frames, and how it is saved.

Per track: when it was last seen, its last observed anchor, its stays per zone (``Visit``), the
side of each counting line it was last clearly on, its recent anchors (``Motion``), the notes
rules keep about it across zones (that a person was seen standing), and whether its weapon
event was raised. Each part saves itself as plain JSON values and is read back checked, against
the scene's zones, lines and rules, so a snapshot of another scene cannot slip in state no rule
would ever clear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigie_core.analytics.motion import Motion
from vigie_core.analytics.rules import StayRule
from vigie_core.analytics.visit import Visit
from vigie_core.geometry import Point
from vigie_core.snapshots import (
    as_bool,
    as_float,
    as_int,
    as_mapping,
    as_str,
    as_text,
    as_xy,
    entries_among,
    invalid,
    key,
    optional,
)
from vigie_core.snapshots import field as read_field


@dataclass(slots=True)
class LineSide:
    """Which side of a line a track was last seen clearly on (beyond the hysteresis band)."""

    side: int  # +1 left of a->b, -1 right
    met_segment: bool = False  # the anchor's path has touched the segment since then

    def snapshot(self) -> dict[str, Any]:
        return {"side": self.side, "met_segment": self.met_segment}

    @classmethod
    def restore(cls, value: Any, where: str) -> LineSide:
        obj = as_mapping(value, where)
        side = as_int(read_field(obj, "side", where), f"{where}.side", minimum=-1, maximum=1)
        if side == 0:
            raise invalid(f"{where}.side", "expected 1 or -1, got 0")
        met = as_bool(read_field(obj, "met_segment", where), f"{where}.met_segment")
        return cls(side, met)


@dataclass(frozen=True, slots=True)
class Layout:
    """The names a track's saved memory may refer to: the scene's lines, each zone's rules,
    and the rules that keep notes about tracks."""

    lines: Sequence[str]
    zone_rules: Mapping[str, Sequence[StayRule[Any]]]
    followers: Mapping[str, StayRule[Any]]


@dataclass(slots=True)
class TrackMemory:
    last_seen: float
    class_name: str = ""
    anchor: Point | None = None  # last observed anchor
    visits: dict[str, Visit] = field(default_factory=dict)  # by zone
    sides: dict[str, LineSide] = field(default_factory=dict)  # by line
    motion: Motion = field(default_factory=Motion)
    notes: dict[str, Any] = field(default_factory=dict)  # by rule; plain JSON values
    weapon_raised: bool = False

    def snapshot(self, track_id: str) -> dict[str, Any]:
        anchor = None if self.anchor is None else [float(self.anchor[0]), float(self.anchor[1])]
        return {
            "track_id": track_id,
            "last_seen": float(self.last_seen),
            "class_name": self.class_name,
            "anchor": anchor,
            "visits": {name: visit.snapshot() for name, visit in self.visits.items()},
            "sides": {name: side.snapshot() for name, side in self.sides.items()},
            "motion": self.motion.snapshot(),
            "notes": dict(self.notes),
            "weapon_raised": self.weapon_raised,
        }

    @classmethod
    def restore(cls, value: Any, where: str, layout: Layout) -> tuple[str, TrackMemory]:
        """One track's memory, as ``(track_id, memory)``."""
        obj = as_mapping(value, where)

        def read(name: str) -> Any:
            return read_field(obj, name, where)

        track_id = as_str(read("track_id"), f"{where}.track_id")
        memory = cls(last_seen=as_float(read("last_seen"), f"{where}.last_seen"))
        memory.class_name = as_text(read("class_name"), f"{where}.class_name")
        memory.anchor = optional(read("anchor"), f"{where}.anchor", as_xy)
        at = f"{where}.visits"
        for name, raw in entries_among(read("visits"), at, list(layout.zone_rules)).items():
            memory.visits[name] = Visit.restore(raw, key(at, name), layout.zone_rules[name])
        at = f"{where}.sides"
        for name, raw in entries_among(read("sides"), at, layout.lines).items():
            memory.sides[name] = LineSide.restore(raw, key(at, name))
        memory.motion = Motion.restore(read("motion"), f"{where}.motion")
        at = f"{where}.notes"
        for name, raw in entries_among(read("notes"), at, list(layout.followers)).items():
            memory.notes[name] = layout.followers[name].read_note(raw, key(at, name))
        memory.weapon_raised = as_bool(read("weapon_raised"), f"{where}.weapon_raised")
        return track_id, memory
