"""Crowds in a zone: density above a limit, and sudden rush or dispersal.

Density counts the people whose anchor is in the zone, including those the tracker has briefly
lost (in a crowd people hide each other; they have not left). Movement compares the crowd's mean
speed and spread (mean distance to its centroid) over a short window with a slow rolling
baseline of the same zone: what is normal differs between a platform and a square, and between
rush hour and night. The baseline learns only from frames within the normal band (less than half
way to a rush or a dispersal): otherwise, while the short window ramps up over a real rush, the
baseline would climb with it and the ratio never reach its factor. After a gap longer than the
baseline (the camera was down, the zone's schedule closed) movement starts learning afresh.

A watch saves its timers and averages as plain JSON values (``snapshot``) and is rebuilt from
them (``restore``), so a restart neither forgets a learnt baseline nor raises a density again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vigie_core.analytics.explain import fmt, make_event
from vigie_core.analytics.visit import reached
from vigie_core.geometry import Point
from vigie_core.rules import CrowdSpec
from vigie_core.snapshots import as_bool, as_float, as_mapping, field, invalid, optional
from vigie_core.types import Event, EventKind, FrameRef


@dataclass(frozen=True, slots=True)
class Member:
    """One person in the zone on this frame; ``velocity`` is None until it has been measured."""

    track_id: str
    anchor: Point
    velocity: tuple[float, float] | None


class _Ema:
    """An exponential moving average with a time constant, for irregular frame intervals."""

    def __init__(self, tau_s: float) -> None:
        self.tau_s = tau_s
        self.value: float | None = None

    def update(self, x: float, dt: float) -> float:
        if self.value is None:
            self.value = x
        else:
            alpha = 1.0 - math.exp(-max(dt, 0.0) / self.tau_s)
            self.value += alpha * (x - self.value)
        return self.value

    def snapshot(self) -> float | None:
        return None if self.value is None else float(self.value)

    @classmethod
    def restore(cls, tau_s: float, value: Any, where: str) -> _Ema:
        ema = cls(tau_s)
        ema.value = optional(value, where, as_float)
        return ema


class CrowdWatch:
    """Density and movement of one zone's crowd."""

    def __init__(self, zone: str, spec: CrowdSpec, area_m2: float | None) -> None:
        if spec.max_density_per_m2 is not None and area_m2 is None:
            raise ValueError(
                f"zone {zone!r}: crowd.max_density_per_m2 needs the zone's area: give the camera"
                " a ground calibration or the zone an area_m2"
            )
        self.zone, self.spec, self.area_m2 = zone, spec, area_m2
        self._over_since: float | None = None
        self._under_since: float | None = None
        self._density_raised = False
        self._last_t: float | None = None
        self._speed, self._spread = _Ema(spec.window_s), _Ema(spec.window_s)
        self._base_speed, self._base_spread = _Ema(spec.baseline_s), _Ema(spec.baseline_s)
        self._baseline_age_s = 0.0
        self._moving_since_clear: float | None = None
        self._movement_raised = False

    def snapshot(self) -> dict[str, Any]:
        """Timers, raised flags and averages as plain JSON values; the spec and area are the
        scene's, not state."""

        def opt(value: float | None) -> float | None:
            return None if value is None else float(value)

        return {
            "last_t": opt(self._last_t),
            "over_since": opt(self._over_since),
            "under_since": opt(self._under_since),
            "density_raised": self._density_raised,
            "speed": self._speed.snapshot(),
            "spread": self._spread.snapshot(),
            "base_speed": self._base_speed.snapshot(),
            "base_spread": self._base_spread.snapshot(),
            "baseline_age_s": float(self._baseline_age_s),
            "moving_since_clear": opt(self._moving_since_clear),
            "movement_raised": self._movement_raised,
        }

    @classmethod
    def restore(
        cls, zone: str, spec: CrowdSpec, area_m2: float | None, value: Any, where: str
    ) -> CrowdWatch:
        """The watch a ``snapshot`` was taken of, for the zone's current ``spec``."""
        obj = as_mapping(value, where)
        watch = cls(zone, spec, area_m2)

        def when(name: str) -> float | None:
            return optional(field(obj, name, where), f"{where}.{name}", as_float)

        def flag(name: str) -> bool:
            return as_bool(field(obj, name, where), f"{where}.{name}")

        def ema(name: str, tau_s: float) -> _Ema:
            return _Ema.restore(tau_s, field(obj, name, where), f"{where}.{name}")

        watch._last_t = when("last_t")
        watch._over_since = when("over_since")
        watch._under_since = when("under_since")
        watch._density_raised = flag("density_raised")
        watch._speed = ema("speed", spec.window_s)
        watch._spread = ema("spread", spec.window_s)
        watch._base_speed = ema("base_speed", spec.baseline_s)
        watch._base_spread = ema("base_spread", spec.baseline_s)
        age = as_float(field(obj, "baseline_age_s", where), f"{where}.baseline_age_s")
        if age < 0:
            raise invalid(f"{where}.baseline_age_s", f"expected a number >= 0, got {age!r}")
        watch._baseline_age_s = age
        watch._moving_since_clear = when("moving_since_clear")
        watch._movement_raised = flag("movement_raised")
        return watch

    def update(self, frame: FrameRef, members: Sequence[Member], heatmap: str) -> list[Event]:
        now = frame.captured_at
        dt = 0.0 if self._last_t is None else now - self._last_t
        self._last_t = now
        events = []
        density = self._density(frame, members, heatmap)
        if density is not None:
            events.append(density)
        if self.spec.movement:
            movement = self._movement(frame, members, dt)
            if movement is not None:
                events.append(movement)
        return events

    # -- density ---------------------------------------------------------------------------------

    def _density(self, frame: FrameRef, members: Sequence[Member], heatmap: str) -> Event | None:
        spec, now, count = self.spec, frame.captured_at, len(members)
        per_m2 = None if self.area_m2 is None else count / self.area_m2
        over = (spec.max_people is not None and count > spec.max_people) or (
            spec.max_density_per_m2 is not None
            and per_m2 is not None
            and per_m2 > spec.max_density_per_m2
        )
        if not over:
            self._over_since = None
            if self._density_raised:
                self._under_since = self._under_since if self._under_since is not None else now
                if reached(now - self._under_since, spec.clear_s):
                    self._density_raised, self._under_since = False, None
            return None
        self._under_since = None
        if self._over_since is None:
            self._over_since = now
        duration = now - self._over_since
        if self._density_raised or not reached(duration, spec.min_duration_s):
            return None
        self._density_raised = True
        details = {"people": str(count), "duration_s": fmt(duration)}
        details["min_duration_s"] = fmt(spec.min_duration_s)
        if spec.max_people is not None:
            details["max_people"] = str(spec.max_people)
        if per_m2 is not None:
            details["area_m2"] = fmt(self.area_m2 or 0.0)
            details["people_per_m2"] = fmt(per_m2)
        if spec.max_density_per_m2 is not None:
            details["max_people_per_m2"] = fmt(spec.max_density_per_m2)
        details["heatmap"] = heatmap
        return make_event(
            EventKind.CROWD_DENSITY,
            frame,
            self.zone,
            class_name="person",
            track_ids=sorted(m.track_id for m in members),
            details=details,
        )

    # -- movement --------------------------------------------------------------------------------

    def _restart_movement(self) -> None:
        spec = self.spec
        self._speed, self._spread = _Ema(spec.window_s), _Ema(spec.window_s)
        self._base_speed, self._base_spread = _Ema(spec.baseline_s), _Ema(spec.baseline_s)
        self._baseline_age_s = 0.0
        self._movement_raised, self._moving_since_clear = False, None

    def _normal(self, speed: float, spread: float) -> bool:
        """Less than half way from the baseline to a rush and to a dispersal."""
        spec = self.spec
        base_speed = self._base_speed.value or 0.0
        base_spread = self._base_spread.value or 0.0
        return speed < (1 + (spec.rush_factor - 1) / 2) * max(base_speed, 1e-6) and spread < (
            1 + (spec.dispersal_factor - 1) / 2
        ) * max(base_spread, 1e-6)

    def _movement(self, frame: FrameRef, members: Sequence[Member], dt: float) -> Event | None:
        spec, now = self.spec, frame.captured_at
        moving = [m for m in members if m.velocity is not None]
        if len(moving) < spec.min_people:
            return None
        speed_now = sum(math.hypot(*m.velocity) for m in moving if m.velocity) / len(moving)
        cx = sum(m.anchor[0] for m in members) / len(members)
        cy = sum(m.anchor[1] for m in members) / len(members)
        spread_now = sum(math.dist(m.anchor, (cx, cy)) for m in members) / len(members)
        if dt > spec.baseline_s:
            self._restart_movement()
            dt = 0.0
        speed = self._speed.update(speed_now, dt)
        spread = self._spread.update(spread_now, dt)
        warmed = self._baseline_age_s >= spec.baseline_s / 2
        base_speed, base_spread = self._base_speed.value, self._base_spread.value
        change = None
        if warmed and base_speed is not None and base_spread is not None:
            if speed >= spec.min_rush_speed and speed >= spec.rush_factor * max(base_speed, 1e-6):
                change = ("rush", speed, base_speed, spec.rush_factor)
            elif speed >= spec.min_rush_speed / 2 and spread >= spec.dispersal_factor * max(
                base_spread, 1e-6
            ):
                change = ("dispersal", spread, base_spread, spec.dispersal_factor)
        if change is None:
            if not warmed or self._normal(speed, spread):
                self._base_speed.update(speed_now, dt)
                self._base_spread.update(spread_now, dt)
                self._baseline_age_s += dt
            if self._movement_raised:
                since = self._moving_since_clear
                self._moving_since_clear = now if since is None else since
                if reached(now - self._moving_since_clear, spec.clear_s):
                    self._movement_raised, self._moving_since_clear = False, None
            return None
        self._moving_since_clear = None
        if self._movement_raised:
            return None
        self._movement_raised = True
        kind, value, baseline, factor = change
        return make_event(
            EventKind.CROWD_MOVEMENT,
            frame,
            self.zone,
            class_name="person",
            track_ids=sorted(m.track_id for m in members),
            details={
                "change": kind,
                "measured": fmt(value),
                "baseline": fmt(baseline),
                "ratio": fmt(value / max(baseline, 1e-6)),
                "factor": fmt(factor),
                "people": str(len(members)),
                "window_s": fmt(spec.window_s),
                "baseline_s": fmt(spec.baseline_s),
            },
        )


class HeatMap:
    """Where people stand on the frame, as a coarse grid of counts (``cols`` x ``rows``)."""

    def __init__(self, cols: int = 16, rows: int = 9) -> None:
        self.cols, self.rows = cols, rows

    def encode(self, anchors: Sequence[Point]) -> str:
        """``"16x9:"`` then the rows top to bottom, cells left to right, as one digit string per
        row (counts above 9 read 9) joined by ``/``: small enough for an event's details."""
        grid = [[0] * self.cols for _ in range(self.rows)]
        for x, y in anchors:
            col = min(self.cols - 1, max(0, int(x * self.cols)))
            row = min(self.rows - 1, max(0, int(y * self.rows)))
            grid[row][col] += 1
        body = "/".join("".join(str(min(9, c)) for c in row) for row in grid)
        return f"{self.cols}x{self.rows}:{body}"


def decode_heatmap(text: str) -> list[list[int]]:
    """The grid of :meth:`HeatMap.encode`, rows top to bottom."""
    shape, _, body = text.partition(":")
    cols, rows = (int(v) for v in shape.split("x"))
    grid = [[int(c) for c in row] for row in body.split("/")]
    if len(grid) != rows or any(len(row) != cols for row in grid):
        raise ValueError(f"heat map {shape} does not match its cells")
    return grid
