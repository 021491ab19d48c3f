"""Stopped vehicle: a vehicle standing still in a no-stopping zone for more than ``max_stop_s``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigie_core.analytics.explain import fmt
from vigie_core.analytics.motion import Stillness
from vigie_core.analytics.rules.registry import Seen, StayRule, register
from vigie_core.analytics.visit import Visit, reached
from vigie_core.rules import VEHICLES, class_set, positive
from vigie_core.types import EventKind


@dataclass(frozen=True, slots=True)
class StoppedVehicleSpec:
    """A vehicle standing still in a no-stopping zone for more than ``max_stop_s``.

    Still means its anchor stays within ``still_radius`` of where it stopped: detector jitter
    moves a parked car's box by a fraction of that. A vehicle already standing when it is first
    seen is stopped from that frame: a no-stopping zone is about the car standing there, and
    a car that was parked before the camera started, or that the detector only finds once it
    has stopped (small, distant, half hidden), is standing there all the same.
    """

    max_stop_s: float = 30.0
    classes: frozenset[str] = VEHICLES
    still_radius: float = 0.02

    def __post_init__(self) -> None:
        positive(self.max_stop_s, "stopped_vehicle.max_stop_s")
        object.__setattr__(self, "classes", class_set(self.classes))
        positive(self.still_radius, "stopped_vehicle.still_radius")


@register
class StoppedVehicle(StayRule[StoppedVehicleSpec]):
    """Measures where and since when the vehicle has stood still (a ``Stillness``)."""

    name = "stopped_vehicle"
    params = StoppedVehicleSpec
    kind = EventKind.STOPPED_VEHICLE

    def applies(self, params: StoppedVehicleSpec, class_name: str) -> bool:
        return class_name in params.classes

    def check(self, params: StoppedVehicleSpec, visit: Visit, seen: Seen) -> dict[str, str] | None:
        still = visit.measure(self.name, Stillness)
        still_s = still.update(seen.now, seen.anchor, params.still_radius)
        if not reached(still_s, params.max_stop_s):
            return None
        return {"stopped_s": fmt(still_s), "max_stop_s": fmt(params.max_stop_s)}

    def read_measure(self, value: Any, where: str) -> Stillness:
        return Stillness.restore(value, where)
