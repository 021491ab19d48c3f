"""The bounded, time-downsampled path a track summary keeps of where its object went."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vigie_core.tracking.state import as_int, as_list, as_mapping, as_point, field, invalid

# Frame times are floats: a point 0.5 s after the last one may compute as 0.49999999. This slack
# keeps the path sampling on the intended grid without affecting any real interval.
_TIME_SLACK_S = 1e-6

# A path halves at most once per ``max_points / 2`` points, so even a track lasting years stays
# far below this; a larger count in a snapshot is corruption (and 2.0**count would overflow).
MAX_DOUBLINGS = 64

Point = tuple[float, float, float]


class PathSampler:
    """Bounded, time-downsampled record of where a track has been.

    Keeps a point when at least the current interval has passed since the last kept one, and
    always remembers the latest point, so the path starts at the first sighting and ends at the
    last one. When the kept points fill the budget, every other one is dropped and the interval
    doubles: memory stays bounded on tracks that last for hours.
    """

    __slots__ = ("_doublings", "_interval_s", "_kept", "_latest", "_max_points")

    def __init__(self, interval_s: float, max_points: int) -> None:
        self._interval_s = interval_s
        self._max_points = max_points
        self._doublings = 0
        self._kept: list[Point] = []
        self._latest: Point | None = None

    @classmethod
    def resume(
        cls,
        interval_s: float,
        max_points: int,
        doublings: int,
        kept: Sequence[Point],
        latest: Point | None,
    ) -> PathSampler:
        """A sampler continuing from stored state (see ``state``). The interval is rebuilt from
        the configured one and the number of doublings, so it follows the current settings;
        if those now allow fewer points, the path is thinned as ``add`` would have."""
        sampler = cls(interval_s * 2.0**doublings, max_points)
        sampler._doublings = doublings
        sampler._kept = list(kept)
        # No stored latest point means it is the last kept one, and ``points`` relies on that
        # being the same object.
        sampler._latest = latest if latest is not None else (kept[-1] if kept else None)
        while len(sampler._kept) >= max_points:
            sampler._halve()
        return sampler

    @classmethod
    def read(cls, value: Any, where: str, interval_s: float, max_points: int) -> PathSampler:
        """Resumes from ``state``'s output, checking every field."""
        state: Mapping[str, Any] = as_mapping(value, where)
        doublings = as_int(field(state, "doublings", where), f"{where}.doublings", 0, MAX_DOUBLINGS)
        kept = [
            as_point(p, f"{where}.kept[{i}]")
            for i, p in enumerate(as_list(field(state, "kept", where), f"{where}.kept"))
        ]
        raw_latest = field(state, "latest", where)
        latest = None if raw_latest is None else as_point(raw_latest, f"{where}.latest")
        if not kept and latest is None:
            raise invalid(where, "a track's path has at least one point")
        return cls.resume(interval_s, max_points, doublings, kept, latest)

    def state(self) -> dict[str, Any]:
        """JSON-ready state; ``latest`` is only written when it differs from the last kept
        point, which is what ``points`` distinguishes."""
        latest = self._latest
        if latest is not None and self._kept and self._kept[-1] is latest:
            latest = None
        return {
            "doublings": self._doublings,
            "kept": [[float(v) for v in p] for p in self._kept],
            "latest": None if latest is None else [float(v) for v in latest],
        }

    def add(self, t: float, x: float, y: float) -> None:
        point = (t, x, y)
        self._latest = point
        if self._kept and t - self._kept[-1][0] < self._interval_s - _TIME_SLACK_S:
            return
        self._kept.append(point)
        if len(self._kept) >= self._max_points:  # leave room for the latest point
            self._halve()

    def _halve(self) -> None:
        self._kept = self._kept[::2]
        self._interval_s *= 2.0
        self._doublings += 1

    def points(self) -> tuple[Point, ...]:
        if self._latest is None or (self._kept and self._kept[-1] is self._latest):
            return tuple(self._kept)
        return (*self._kept, self._latest)
