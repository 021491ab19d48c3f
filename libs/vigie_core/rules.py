"""The parameters of each scene rule, named by what they mean, checked once at load.

A zone carries the rules it is watched for (a zone with none only counts occupancy). Defaults are
the values an operator would start from on a street camera at 10 fps; every one is overridable
per zone. Distances and speeds are in normalised frame units (0..1 of the frame width/height)
unless the camera has a ground calibration, in which case crowd density is per square metre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PERSON = frozenset({"person"})
VEHICLES = frozenset({"car", "truck", "bus", "motorbike", "motorcycle"})
CARRIED_OBJECTS = frozenset({"backpack", "handbag", "suitcase"})


def positive(value: float, what: str) -> None:
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{what} must be a finite number > 0, got {value}")


def non_negative(value: float, what: str) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{what} must be a finite number >= 0, got {value}")


def class_set(classes: frozenset[str] | set[str] | tuple[str, ...] | list[str]) -> frozenset[str]:
    if isinstance(classes, str):
        raise ValueError(f"classes must be a collection of names, not the string {classes!r}")
    names = frozenset(classes)
    if any(not isinstance(n, str) or not n.strip() for n in names):
        raise ValueError(f"class names must be non-empty strings, got {sorted(names)}")
    return names


@dataclass(frozen=True, slots=True)
class LoiteringSpec:
    """Someone staying in the zone longer than ``max_dwell_s``: one event per stay."""

    max_dwell_s: float = 60.0
    classes: frozenset[str] = PERSON

    def __post_init__(self) -> None:
        positive(self.max_dwell_s, "loitering.max_dwell_s")
        object.__setattr__(self, "classes", class_set(self.classes))


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


@dataclass(frozen=True, slots=True)
class StoppedVehicleSpec:
    """A vehicle standing still in a no-stopping zone for more than ``max_stop_s``.

    Still means its anchor stays within ``still_radius`` of where it stopped: detector jitter
    moves a parked car's box by a fraction of that.
    """

    max_stop_s: float = 30.0
    classes: frozenset[str] = VEHICLES
    still_radius: float = 0.02

    def __post_init__(self) -> None:
        positive(self.max_stop_s, "stopped_vehicle.max_stop_s")
        object.__setattr__(self, "classes", class_set(self.classes))
        positive(self.still_radius, "stopped_vehicle.still_radius")


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


@dataclass(frozen=True, slots=True)
class AbandonedSpec:
    """An object that stands still for ``static_s`` with no person within ``owner_radius``
    for ``unattended_s`` is abandoned; when a still object disappears, it was removed.

    ``owner_radius`` is in normalised frame units around the object's box; somebody standing next
    to their bag keeps it attended.
    """

    classes: frozenset[str] = CARRIED_OBJECTS
    static_s: float = 30.0
    unattended_s: float = 10.0
    owner_radius: float = 0.15
    still_radius: float = 0.02
    report_removal: bool = True
    removal_grace_s: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", class_set(self.classes))
        if not self.classes:
            raise ValueError("abandoned.classes must name at least one object class")
        positive(self.static_s, "abandoned.static_s")
        non_negative(self.unattended_s, "abandoned.unattended_s")
        positive(self.owner_radius, "abandoned.owner_radius")
        positive(self.still_radius, "abandoned.still_radius")
        non_negative(self.removal_grace_s, "abandoned.removal_grace_s")


@dataclass(frozen=True, slots=True)
class CrowdSpec:
    """Crowd density above a limit for ``min_duration_s``, and sudden crowd movement.

    Density: ``max_people`` in the zone, or ``max_density_per_m2`` when the zone's area in
    square metres is known (a calibration or ``area_m2``). Movement: the crowd's mean speed or
    spread over the last ``window_s`` against its rolling baseline over ``baseline_s``; a rush is
    the speed jumping by ``rush_factor``, a dispersal the spread growing by ``dispersal_factor``.
    Both need at least ``min_people`` so that one runner is not a crowd.
    """

    classes: frozenset[str] = PERSON
    max_people: int | None = None
    max_density_per_m2: float | None = None
    min_duration_s: float = 5.0
    clear_s: float = 10.0
    movement: bool = True
    min_people: int = 4
    window_s: float = 2.0
    baseline_s: float = 60.0
    rush_factor: float = 2.5
    dispersal_factor: float = 1.6
    min_rush_speed: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", class_set(self.classes))
        if self.max_people is not None and (
            isinstance(self.max_people, bool) or not isinstance(self.max_people, int)
        ):
            raise ValueError(f"crowd.max_people must be a whole number, got {self.max_people}")
        if self.max_people is not None and self.max_people < 1:
            raise ValueError(f"crowd.max_people must be >= 1, got {self.max_people}")
        if self.max_density_per_m2 is not None:
            positive(self.max_density_per_m2, "crowd.max_density_per_m2")
        non_negative(self.min_duration_s, "crowd.min_duration_s")
        non_negative(self.clear_s, "crowd.clear_s")
        if self.min_people < 2:
            raise ValueError(f"crowd.min_people must be >= 2, got {self.min_people}")
        positive(self.window_s, "crowd.window_s")
        positive(self.baseline_s, "crowd.baseline_s")
        if self.baseline_s <= self.window_s:
            raise ValueError("crowd.baseline_s must be longer than crowd.window_s")
        for name in ("rush_factor", "dispersal_factor"):
            if not getattr(self, name) > 1.0:
                raise ValueError(f"crowd.{name} must be > 1, got {getattr(self, name)}")
        positive(self.min_rush_speed, "crowd.min_rush_speed")


@dataclass(frozen=True, slots=True)
class OccupancySpec:
    """Per zone, every ``period_s``: how many came in, went out, were present, and the peak."""

    classes: frozenset[str] = PERSON
    period_s: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", class_set(self.classes))
        positive(self.period_s, "occupancy.period_s")


@dataclass(frozen=True, slots=True)
class WeaponSpec:
    """Classes a plugged-in detector reports for weapons; none ships with Vigie.

    A model that detects, say, ``knife`` is declared in the detection service's registry like any
    bring-your-own ONNX model; listing its class here turns each track of it into one event.
    """

    classes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", class_set(self.classes))
