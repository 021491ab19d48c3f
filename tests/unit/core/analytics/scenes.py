"""Builders for analytics tests: tracks moving along paths, frames at a given rate, scenes.

Times in tests are offsets in seconds from ``T0``; a frame's capture time is ``T0 + offset``.
Frames are numbered in the order they are added to a :class:`Clip`, from 0. Frames are
768x432 pixels, so normalised boxes have the pixel aspect of a real 16:9 stream.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Sequence

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.rules import stay_rules
from vigie_core.calibration import GroundPlane
from vigie_core.geometry import Point, Polygon
from vigie_core.rules import OccupancySpec, WeaponSpec
from vigie_core.scene import SceneSpec, ZoneSpec
from vigie_core.types import (
    Box,
    Event,
    EventKind,
    FrameRef,
    FrameTracks,
    Track,
    TrackState,
    TrackSummary,
)

CAMERA = "cam-1"
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC, a Tuesday; a multiple of 10 s
WIDTH, HEIGHT = 768, 432
FPS = 10.0

OBSERVED = TrackState.TRACKED
LOST = TrackState.LOST

# A floor zone covering the lower middle of the frame.
FLOOR = Polygon.of([(0.2, 0.4), (0.8, 0.4), (0.8, 0.95), (0.2, 0.95)])
INSIDE = (0.5, 0.8)
OUTSIDE = (0.1, 0.8)

# Box sizes (normalised width, height) of the usual objects.
STANDING = (0.06, 0.3)  # 46 x 130 px: width/height 0.356
LYING = (0.25, 0.08)  # 192 x 35 px: width/height 5.556
CAR = (0.2, 0.15)
BAG = (0.05, 0.06)

PathFn = Callable[[float], Point]


def box_on(anchor: Point, size: tuple[float, float] = STANDING) -> Box:
    """The box of the given size whose bottom-centre (the rules' anchor) is ``anchor``."""
    (x, y), (w, h) = anchor, size
    return Box(x - w / 2.0, y - h, x + w / 2.0, y)


def track(
    track_id: str,
    where: Point | Box,
    *,
    cls: str = "person",
    state: TrackState = OBSERVED,
    size: tuple[float, float] = STANDING,
    confidence: float = 0.9,
) -> Track:
    box = where if isinstance(where, Box) else box_on(where, size)
    return Track(track_id=track_id, class_name=cls, box=box, confidence=confidence, state=state)


def still(
    track_id: str,
    where: Point | Box = INSIDE,
    *,
    cls: str = "person",
    state: TrackState = OBSERVED,
    size: tuple[float, float] = STANDING,
) -> Callable[[float], list[Track]]:
    """For :meth:`Clip.span`: one track standing at ``where`` on every frame."""
    return lambda t: [track(track_id, where, cls=cls, state=state, size=size)]


def moving(
    track_id: str,
    path: PathFn,
    *,
    cls: str = "person",
    state: TrackState = OBSERVED,
    size: tuple[float, float] = STANDING,
) -> Callable[[float], list[Track]]:
    """For :meth:`Clip.span`: one track whose anchor follows ``path``."""
    return lambda t: [track(track_id, path(t), cls=cls, state=state, size=size)]


def jittered(box: Box, rng: random.Random, amount: float = 0.01) -> Box:
    """The box with each edge moved by up to ``amount`` (normalised) either way, as a detector
    reports a still object from one frame to the next."""
    return Box(*(v + rng.uniform(-amount, amount) for v in (box.x1, box.y1, box.x2, box.y2)))


def along(*waypoints: tuple[float, Point]) -> PathFn:
    """A path through ``(t, (x, y))`` waypoints at constant speed between them; it stands at
    the first point before the first time and at the last point after the last time."""
    points = sorted(waypoints, key=lambda w: w[0])

    def at(t: float) -> Point:
        if t <= points[0][0]:
            return points[0][1]
        for (ta, (xa, ya)), (tb, (xb, yb)) in itertools.pairwise(points):
            if t <= tb:
                f = (t - ta) / (tb - ta)
                return (xa + (xb - xa) * f, ya + (yb - ya) * f)
        return points[-1][1]

    return at


def ticks(start: float, end: float, fps: float = FPS) -> list[float]:
    """Frame offsets from ``start`` (included) to ``end`` (excluded) at ``fps``."""
    count = math.ceil(round((end - start) * fps, 6))
    return [start + i / fps for i in range(count)]


class Clip:
    """The frames of one camera, in capture order."""

    def __init__(self) -> None:
        self.frames: list[FrameTracks] = []

    def add(self, t: float, *tracks: Track, ended: Sequence[str] = ()) -> FrameTracks:
        captured_at = T0 + t
        summaries = tuple(
            TrackSummary(
                track_id=tid,
                camera_id=CAMERA,
                class_name="",
                first_seen=T0,
                last_seen=captured_at,
                hits=1,
            )
            for tid in ended
        )
        ref = FrameRef(CAMERA, len(self.frames), captured_at, WIDTH, HEIGHT)
        frame = FrameTracks(frame=ref, tracks=tuple(tracks), ended=summaries)
        self.frames.append(frame)
        return frame

    def span(
        self,
        start: float,
        end: float,
        make: Callable[[float], Iterable[Track]],
        fps: float = FPS,
    ) -> Clip:
        """One frame every ``1/fps`` from ``start`` to ``end`` (excluded), tracks by ``make``."""
        for t in ticks(start, end, fps):
            self.add(t, *make(t))
        return self

    def at(self, t: float) -> FrameRef:
        """The frame captured at offset ``t``."""
        for frame in self.frames:
            if abs(frame.frame.captured_at - (T0 + t)) < 1e-4:
                return frame.frame
        raise LookupError(f"no frame at offset {t}")


def zone(name: str = "floor", polygon: Polygon = FLOOR, **rules: object) -> ZoneSpec:
    """A zone watched only for the given rules (no intrusion unless asked for). A per-stay
    rule's parameters are given under its name, as in a scene file: ``loitering=LoiteringSpec()``.
    """
    rules.setdefault("intrusion", False)
    named = tuple(rules.pop(r.name) for r in stay_rules() if not r.inline and r.name in rules)
    stay = (*rules.pop("rules", ()), *named)  # type: ignore[misc]
    return ZoneSpec(name, polygon, rules=stay, **rules)  # type: ignore[arg-type]


def scene(
    *zones: ZoneSpec,
    occupancy: OccupancySpec | None = None,
    weapon: WeaponSpec | None = None,
    ground: GroundPlane | None = None,
) -> SceneSpec:
    return SceneSpec(CAMERA, zones=zones, occupancy=occupancy, weapon=weapon, ground=ground)


def analyser(*zones: ZoneSpec, **settings: object) -> SceneAnalyzer:
    return SceneAnalyzer(scene(*zones, **settings))  # type: ignore[arg-type]


def run(analyzer: SceneAnalyzer, clip: Clip | Iterable[FrameTracks]) -> list[Event]:
    """Every event raised over the frames, in order."""
    frames = clip.frames if isinstance(clip, Clip) else clip
    return [event for frame in frames for event in analyzer.update(frame)]


def of_kind(events: Iterable[Event], kind: EventKind) -> list[Event]:
    return [e for e in events if e.kind is kind]


def offset(event: Event) -> float:
    """The event's frame time as an offset from ``T0``, rounded to the millisecond."""
    return round(event.frame.captured_at - T0, 3)
