"""The parameters of the rules that watch a whole zone or camera, and the checks every rule's
parameters share, named by what they mean, checked once at load.

The per-stay rules (loitering, wrong way...) keep their parameters in their own module of
``vigie_core.analytics.rules``; the ones here watch a zone as a whole (abandoned objects, crowds)
or a camera (occupancy, weapons), and the helpers below check every rule's values alike.

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
