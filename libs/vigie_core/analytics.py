"""Scene rules over tracks: zone intrusion after a dwell, and directed line crossings.

Everything is driven by the frames' capture times and by *observed* positions only. A ``LOST``
track's box is the tracker's prediction of where the object might be; acting on it would let a
prediction drift into a zone or across a line and raise an event nobody can see on the frame the
event points at. Such frames keep the track's memory alive, and its next observed position
is compared with its last observed one, so an object that crossed a line while hidden is still
counted when it reappears on the other side.

The anchor of every rule is the box's bottom-centre: where a person stands or a vehicle touches
the ground, which is what a zone drawn on the floor is about.

Memory is per track and is dropped when the tracker reports the track ended, or when a track has
not appeared for ``forget_after_s`` (an end notice lost to a restart must not leak memory).
Line counts live as long as the analyser: they restart from zero with the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigie_core.geometry import Point
from vigie_core.ids import millis, stable_id
from vigie_core.scene import CountDirection, LineSpec, SceneSpec, ZoneSpec
from vigie_core.types import Event, EventKind, FrameTracks, Track, TrackState

# States whose box matched a detection on this very frame.
OBSERVED_STATES = frozenset({TrackState.NEW, TrackState.TRACKED})

# Frame times are floats: 0.5 s after a frame may compute as 0.49999999. This slack keeps a dwell
# that reaches its threshold on the intended frame from firing one frame late.
_TIME_SLACK_S = 1e-6

DEFAULT_FORGET_AFTER_S = 30.0


def _fmt(value: float) -> str:
    return f"{value:.3f}"


@dataclass(slots=True)
class _Visit:
    """One stay of a track in one zone, from its first observed anchor inside."""

    entered_at: float
    raised: bool = False


@dataclass(slots=True)
class _LineSide:
    """Which side of a line a track was last seen clearly on (beyond the hysteresis band)."""

    side: int  # +1 left of a->b, -1 right
    met_segment: bool = False  # the anchor's path has touched the segment since then


@dataclass(slots=True)
class _TrackMemory:
    last_seen: float
    anchor: Point | None = None  # last observed anchor
    visits: dict[str, _Visit] = field(default_factory=dict)
    sides: dict[str, _LineSide] = field(default_factory=dict)


class SceneAnalyzer:
    """Applies one camera's ``SceneSpec`` to its stream of ``FrameTracks``, frame by frame.

    Frames must arrive in capture-time order (the caller drops stale ones); the analyser reads no
    clock, so replaying a stream raises the same events with the same ids.
    """

    def __init__(self, scene: SceneSpec, forget_after_s: float = DEFAULT_FORGET_AFTER_S) -> None:
        if not forget_after_s > 0:
            raise ValueError(f"forget_after_s must be > 0, got {forget_after_s}")
        self._scene = scene
        self._forget_after_s = forget_after_s
        self._tracks: dict[str, _TrackMemory] = {}
        self._counts: dict[str, list[int]] = {line.name: [0, 0] for line in scene.lines}

    @property
    def scene(self) -> SceneSpec:
        return self._scene

    def counts(self) -> dict[str, tuple[int, int]]:
        """Crossings counted so far per line, as ``(forward, backward)``."""
        return {name: (fwd, bwd) for name, (fwd, bwd) in self._counts.items()}

    def tracked_count(self) -> int:
        """How many tracks the analyser currently remembers (bounded by the live tracks)."""
        return len(self._tracks)

    def update(self, frame_tracks: FrameTracks) -> list[Event]:
        """Advance every rule by one frame and return the events raised on it."""
        frame = frame_tracks.frame
        if frame.camera_id != self._scene.camera_id:
            raise ValueError(
                f"frame of camera {frame.camera_id!r} given to the analyser of camera "
                f"{self._scene.camera_id!r}"
            )
        now = frame.captured_at
        events: list[Event] = []
        for track in frame_tracks.tracks:
            events.extend(self._update_track(track, frame_tracks, now))
        for summary in frame_tracks.ended:
            self._tracks.pop(summary.track_id, None)
        self._forget_absent(now)
        return events

    def _update_track(self, track: Track, frame_tracks: FrameTracks, now: float) -> list[Event]:
        memory = self._tracks.get(track.track_id)
        if memory is None:
            memory = self._tracks[track.track_id] = _TrackMemory(last_seen=now)
        memory.last_seen = now
        if track.state not in OBSERVED_STATES:
            return []
        anchor = track.box.bottom_centre
        events: list[Event] = []
        for zone in self._scene.zones:
            if zone.applies_to(track.class_name):
                event = self._check_zone(zone, track, memory, anchor, frame_tracks)
                if event is not None:
                    events.append(event)
        for line in self._scene.lines:
            if line.applies_to(track.class_name):
                event = self._check_line(line, track, memory, anchor, frame_tracks)
                if event is not None:
                    events.append(event)
        memory.anchor = anchor
        return events

    def _check_zone(
        self,
        zone: ZoneSpec,
        track: Track,
        memory: _TrackMemory,
        anchor: Point,
        frame_tracks: FrameTracks,
    ) -> Event | None:
        """One event per stay: the visit is forgotten only when the track is seen outside."""
        now = frame_tracks.frame.captured_at
        if not zone.polygon.contains(anchor):
            memory.visits.pop(zone.name, None)
            return None
        visit = memory.visits.get(zone.name)
        if visit is None:
            visit = memory.visits[zone.name] = _Visit(entered_at=now)
        dwell = max(0.0, now - visit.entered_at)
        if visit.raised or dwell + _TIME_SLACK_S < zone.min_dwell_s:
            return None
        visit.raised = True
        details = {
            "dwell_s": _fmt(dwell),
            "min_dwell_s": _fmt(zone.min_dwell_s),
            "anchor_x": _fmt(anchor[0]),
            "anchor_y": _fmt(anchor[1]),
        }
        return self._event(EventKind.ZONE_INTRUSION, zone.name, track, frame_tracks, details)

    def _check_line(
        self,
        line: LineSpec,
        track: Track,
        memory: _TrackMemory,
        anchor: Point,
        frame_tracks: FrameTracks,
    ) -> Event | None:
        """A crossing needs both a clear change of side and a path that met the segment.

        The side alone would count people walking around the end of the line; the segment alone
        would count someone swaying on it. Between the two clear sides the path may take any
        number of frames inside the hysteresis band.
        """
        state = memory.sides.get(line.name)
        if (
            state is not None
            and memory.anchor is not None
            and line.line.crossed(memory.anchor, anchor)
        ):
            state.met_segment = True
        side = self._clear_side(line, anchor)
        if side == 0:
            return None
        if state is None or side == state.side:
            memory.sides[line.name] = _LineSide(side=side)
            return None
        met_segment = state.met_segment
        memory.sides[line.name] = _LineSide(side=side)
        if not met_segment:
            return None
        direction = CountDirection.FORWARD if side > 0 else CountDirection.BACKWARD
        if not line.count_direction.counts(direction):
            return None
        counts = self._counts[line.name]
        counts[0 if direction is CountDirection.FORWARD else 1] += 1
        details = {
            "direction": direction.value,
            "count_forward": str(counts[0]),
            "count_backward": str(counts[1]),
        }
        return self._event(EventKind.LINE_CROSSING, line.name, track, frame_tracks, details)

    @staticmethod
    def _clear_side(line: LineSpec, anchor: Point) -> int:
        """+1 or -1 when the anchor is beyond the hysteresis band, 0 while inside it."""
        distance = line.line.side(anchor)
        if distance > line.hysteresis:
            return 1
        if distance < -line.hysteresis:
            return -1
        return 0

    def _event(
        self,
        kind: EventKind,
        name: str,
        track: Track,
        frame_tracks: FrameTracks,
        details: dict[str, str],
    ) -> Event:
        frame = frame_tracks.frame
        return Event(
            event_id=stable_id(
                self._scene.camera_id, kind, name, track.track_id, millis(frame.captured_at)
            ),
            kind=kind,
            frame=frame,
            zone=name,
            class_name=track.class_name,
            track_ids=(track.track_id,),
            details=details,
        )

    def _forget_absent(self, now: float) -> None:
        stale = [
            track_id
            for track_id, memory in self._tracks.items()
            if now - memory.last_seen > self._forget_after_s
        ]
        for track_id in stale:
            del self._tracks[track_id]
