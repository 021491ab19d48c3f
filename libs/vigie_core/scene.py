"""What a camera's analytics watch for: zones, counting lines and their rules, validated once.

Plain frozen dataclasses so the pure core has no dependency on the configuration format; the
runtime's scene loader (``vigie_runtime.scenes``) converts the YAML file into these, for
analytics (zone and line rules) and tracking (time spent in each zone) alike. Names are the
operator's vocabulary: they end up in ``Event.zone``, in alerts and in track summaries, so they
must be unique within a camera.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields, is_dataclass
from datetime import time
from enum import Enum, StrEnum
from typing import Any, TypeVar

from vigie_core.calibration import GroundPlane
from vigie_core.geometry import Line, Polygon
from vigie_core.rules import (
    AbandonedSpec,
    CrowdSpec,
    OccupancySpec,
    WeaponSpec,
    class_set,
    non_negative,
)
from vigie_core.schedule import ALWAYS, Schedule

DEFAULT_OCCUPANCY = OccupancySpec()

# The rules that watch a zone as a whole rather than one stay in it: each one's parameters are
# the :class:`ZoneSpec` field of its name, read from the scene file's block of that name.
ZONE_RULES: dict[str, type] = {"abandoned": AbandonedSpec, "crowd": CrowdSpec}


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} name must be a non-empty string, got {name!r}")


class CountDirection(StrEnum):
    """Which crossings of a line are raised and counted.

    ``FORWARD`` is a crossing from the right side of a->b to its left side (``Line.side`` goes
    from negative to positive); ``BACKWARD`` the opposite. For a line drawn left to right across
    the image, forward is moving up the image.
    """

    BOTH = "both"
    FORWARD = "forward"
    BACKWARD = "backward"

    def counts(self, direction: CountDirection) -> bool:
        return self is CountDirection.BOTH or self is direction


P = TypeVar("P")

# A second outside is what a jittering box or a brushed edge costs; a real exit lasts longer.
DEFAULT_EXIT_GRACE_S = 1.0


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A floor area and the rules it is watched for.

    Intrusion is the zone's first rule, and its parameters are the zone's own: a track of a
    forbidden class whose ground anchor stays in it for ``min_dwell_s`` intrudes. ``classes``
    lists the forbidden classes (empty: every class, since a zone is usually about "anything in
    here"); ``allowed_classes`` are exempt (staff vehicles in a pedestrian zone, say).
    ``intrusion=False`` keeps the zone for its other rules. ``rules`` holds the parameters of its
    other per-stay rules (``LoiteringSpec``, ``WrongWaySpec``...), at most one of each type: the
    rule each belongs to is found by that type in the rule registry
    (``vigie_core.analytics.rules``), which the zone need not know. ``abandoned`` and ``crowd``
    watch the zone as a whole. ``schedule`` says when every rule of the zone is active;
    occupancy is counted at all times. ``area_m2`` is the zone's floor area when the camera has
    no ground calibration. ``exit_grace_s`` is how long an anchor may be seen outside before its
    stay ends: a box that jitters across the edge, or a person brushing it, keeps one stay (one
    intrusion, one dwell).
    """

    name: str
    polygon: Polygon
    classes: frozenset[str] = frozenset()
    min_dwell_s: float = 0.0
    allowed_classes: frozenset[str] = frozenset()
    intrusion: bool = True
    schedule: Schedule = ALWAYS
    area_m2: float | None = None
    rules: tuple[Any, ...] = ()
    abandoned: AbandonedSpec | None = None
    crowd: CrowdSpec | None = None
    exit_grace_s: float = DEFAULT_EXIT_GRACE_S

    def __post_init__(self) -> None:
        _check_name(self.name, "zone")
        non_negative(self.exit_grace_s, f"zone {self.name!r} exit_grace_s")
        object.__setattr__(self, "classes", class_set(self.classes))
        object.__setattr__(self, "allowed_classes", class_set(self.allowed_classes))
        non_negative(self.min_dwell_s, f"zone {self.name!r} min_dwell_s")
        if self.area_m2 is not None and not (math.isfinite(self.area_m2) and self.area_m2 > 0):
            raise ValueError(f"zone {self.name!r} area_m2 must be > 0, got {self.area_m2}")
        object.__setattr__(self, "rules", _stay_rules(self.name, self.rules))

    def rule(self, params_type: type[P]) -> P | None:
        """The zone's parameters of that type (one per-stay rule's), or None: not watched."""
        return next((params for params in self.rules if type(params) is params_type), None)

    def applies_to(self, class_name: str) -> bool:
        """Whether a track of this class can intrude into the zone."""
        if class_name in self.allowed_classes:
            return False
        return not self.classes or class_name in self.classes


def _stay_rules(zone: str, rules: object) -> tuple[Any, ...]:
    """Rule parameters (frozen dataclasses) sorted by type, so two zones saying the same thing
    are equal; at most one of each type, since two blocks of one rule would leave which one
    applies to chance."""
    if not isinstance(rules, tuple | list):
        raise ValueError(f"zone {zone!r} rules must be a sequence of rule parameters")
    for params in rules:
        if not is_dataclass(params) or isinstance(params, type):
            raise ValueError(f"zone {zone!r} rules: {params!r} is not a rule's parameters")
    names = [_type_name(params) for params in rules]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"zone {zone!r} has {twice[0]} more than once")
    return tuple(sorted(rules, key=_type_name))


def _type_name(params: object) -> str:
    kind = type(params)
    return f"{kind.__module__}.{kind.__qualname__}"


@dataclass(frozen=True, slots=True)
class LineSpec:
    """A counting line; crossings of the segment (not of its extension) are raised and counted.

    ``hysteresis`` is the normalised distance an anchor must reach on each side before a side
    change is believed, so that someone standing on the line, whose box jitters by a few pixels,
    is not counted over and over.
    """

    name: str
    line: Line
    classes: frozenset[str] = frozenset()
    count_direction: CountDirection = CountDirection.BOTH
    hysteresis: float = 0.01

    def __post_init__(self) -> None:
        _check_name(self.name, "line")
        object.__setattr__(self, "classes", class_set(self.classes))
        object.__setattr__(self, "count_direction", CountDirection(self.count_direction))
        non_negative(self.hysteresis, f"line {self.name!r} hysteresis")
        if self.hysteresis >= 0.5:
            # Half the frame on each side: no anchor could ever get far enough to count.
            raise ValueError(
                f"line {self.name!r} hysteresis must be < 0.5 (normalised), got {self.hysteresis}"
            )

    def applies_to(self, class_name: str) -> bool:
        return not self.classes or class_name in self.classes


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """Every zone and line of one camera, and its camera-wide settings.

    A zone and a line may not share a name either: both end up in ``Event.zone``, and an
    operator reading "door" must know which rule fired without decoding the event kind.
    ``ground`` maps the floor to metres (crowd density per m²); ``occupancy`` counts people per
    zone and period (None: off); ``weapon`` lists the classes of a plugged-in weapon detector.
    """

    camera_id: str
    zones: tuple[ZoneSpec, ...] = ()
    lines: tuple[LineSpec, ...] = ()
    ground: GroundPlane | None = None
    occupancy: OccupancySpec | None = DEFAULT_OCCUPANCY
    weapon: WeaponSpec | None = None

    def __post_init__(self) -> None:
        _check_name(self.camera_id, "camera")
        object.__setattr__(self, "zones", tuple(self.zones))
        object.__setattr__(self, "lines", tuple(self.lines))
        seen: set[str] = set()
        for rule in (*self.zones, *self.lines):
            if rule.name in seen:
                raise ValueError(
                    f"camera {self.camera_id!r}: name {rule.name!r} is used more than once; "
                    "zone and line names must be unique within a camera"
                )
            seen.add(rule.name)

    def fingerprint(self) -> str:
        """A stable hash of everything the scene says (sha256 hex of a canonical JSON form).

        Saved analytics state is only valid under the scene it was taken with: a stay measured
        in a zone that has since been redrawn, or a count kept for a renamed line, would resume
        as if nothing had changed. The hash is the same in every process and release (sets are
        sorted, numbers written as floats, so ``5`` and ``5.0`` agree) and leaves out what is
        computed from the rest (a calibration's fitted matrix), which a numeric library's
        upgrade might round differently.
        """
        text = json.dumps(_canonical(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"scene/1:{text}".encode()).hexdigest()

    def zone_area_m2(self, zone: ZoneSpec) -> float | None:
        """The zone's floor area: measured by the calibration, else declared, else unknown."""
        if self.ground is not None:
            return self.ground.area_m2(zone.polygon)
        return zone.area_m2


# Fields computed from the others: left out of the fingerprint (see ``SceneSpec.fingerprint``).
_DERIVED = frozenset({(GroundPlane, "matrix")})


def _canonical(value: Any) -> Any:
    """``value`` as plain JSON values whose text does not depend on the process."""
    if is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        out: dict[str, Any] = {"type": kind.__name__}
        for spec_field in fields(value):
            if (kind, spec_field.name) not in _DERIVED:
                out[spec_field.name] = _canonical(getattr(value, spec_field.name))
        return out
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        items = [_canonical(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    # An object repr may hold a memory address: refuse rather than hash something unstable.
    raise TypeError(f"cannot fingerprint a {type(value).__name__} in a scene spec")
