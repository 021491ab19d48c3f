"""Scene rules over tracks: every track-based event of the catalogue, for one camera.

Per track and zone stay: intrusion, loitering, wrong way, stopped vehicle, person on the ground
(``visit_rules``). Per line: directed crossings with running counts. Per zone and frame: crowd
density and movement (``crowd``), abandoned and removed objects (``abandoned``), occupancy per
period (``occupancy``). Per track: a weapon class from a plugged-in detector.

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

from vigie_core.analytics.abandoned import AbandonedWatch
from vigie_core.analytics.crowd import CrowdWatch, HeatMap, Member
from vigie_core.analytics.explain import fmt, make_event
from vigie_core.analytics.motion import Motion
from vigie_core.analytics.occupancy import OccupancyCounter
from vigie_core.analytics.visit_rules import (
    Visit,
    loitering,
    person_down,
    pixel_ratio,
    reached,
    stopped_vehicle,
    wrong_way,
)
from vigie_core.geometry import Point
from vigie_core.scene import CountDirection, LineSpec, SceneSpec, ZoneSpec
from vigie_core.types import Event, EventKind, FrameTracks, Track, TrackState

# States whose box matched a detection on this very frame.
OBSERVED_STATES = frozenset({TrackState.NEW, TrackState.TRACKED})

DEFAULT_FORGET_AFTER_S = 30.0

# Speeds are measured over this long: long enough to average out box jitter at 10 fps.
SPEED_WINDOW_S = 1.0


@dataclass(slots=True)
class _LineSide:
    """Which side of a line a track was last seen clearly on (beyond the hysteresis band)."""

    side: int  # +1 left of a->b, -1 right
    met_segment: bool = False  # the anchor's path has touched the segment since then


@dataclass(slots=True)
class _TrackMemory:
    last_seen: float
    class_name: str = ""
    anchor: Point | None = None  # last observed anchor
    visits: dict[str, Visit] = field(default_factory=dict)
    sides: dict[str, _LineSide] = field(default_factory=dict)
    motion: Motion = field(default_factory=Motion)
    has_stood: bool = False
    weapon_raised: bool = False


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
        self._crowds = {
            z.name: CrowdWatch(z.name, z.crowd, scene.zone_area_m2(z))
            for z in scene.zones
            if z.crowd is not None
        }
        self._abandoned = {
            z.name: AbandonedWatch(z.name, z.abandoned)
            for z in scene.zones
            if z.abandoned is not None
        }
        self._occupancy = (
            {z.name: OccupancyCounter(z.name, scene.occupancy) for z in scene.zones}
            if scene.occupancy is not None
            else {}
        )
        self._heatmap = HeatMap()

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
        ended = {summary.track_id for summary in frame_tracks.ended}
        for track_id in ended:
            self._tracks.pop(track_id, None)
        events.extend(self._update_zones(frame_tracks, ended))
        self._forget_absent(now)
        return events

    def _update_track(self, track: Track, frame_tracks: FrameTracks, now: float) -> list[Event]:
        memory = self._tracks.get(track.track_id)
        if memory is None:
            memory = self._tracks[track.track_id] = _TrackMemory(last_seen=now)
        memory.last_seen = now
        memory.class_name = track.class_name
        if track.state not in OBSERVED_STATES:
            return []
        anchor = track.box.bottom_centre
        memory.motion.add(now, anchor)
        events: list[Event] = []
        for zone in self._scene.zones:
            events.extend(self._check_zone(zone, track, memory, anchor, frame_tracks))
        for line in self._scene.lines:
            if line.applies_to(track.class_name):
                event = self._check_line(line, track, memory, anchor, frame_tracks)
                if event is not None:
                    events.append(event)
        events.extend(self._check_weapon(track, memory, frame_tracks))
        if track.class_name == "person" and self._person_down_watched():
            spec_ratio = min(z.person_down.standing_ratio for z in self._down_zones())
            if pixel_ratio(track.box, frame_tracks.frame) < spec_ratio:
                memory.has_stood = True
        memory.anchor = anchor
        return events

    def _down_zones(self) -> list[ZoneSpec]:
        return [z for z in self._scene.zones if z.person_down is not None]

    def _person_down_watched(self) -> bool:
        return any(z.person_down is not None for z in self._scene.zones)

    def _check_zone(
        self,
        zone: ZoneSpec,
        track: Track,
        memory: _TrackMemory,
        anchor: Point,
        frame_tracks: FrameTracks,
    ) -> list[Event]:
        """Every per-stay rule of one zone. A stay ends only once the anchor has been seen
        outside for the zone's exit grace; until then the rules pause and a return resumes it."""
        now = frame_tracks.frame.captured_at
        visit = memory.visits.get(zone.name)
        if not zone.polygon.contains(anchor):
            if visit is not None and visit.left(now, zone.exit_grace_s):
                del memory.visits[zone.name]
            return []
        if visit is None:
            visit = memory.visits[zone.name] = Visit(entered_at=now)
        visit.outside_since = None
        if not zone.schedule.active_at(now):
            # The stay itself goes on (someone there since before the window opened intrudes at
            # once), but what a rule was measuring restarts when the window opens.
            visit.restart_measures()
            return []
        found: list[tuple[EventKind, dict[str, str] | None]] = []
        cls = track.class_name
        if zone.intrusion and zone.applies_to(cls):
            found.append((EventKind.ZONE_INTRUSION, self._intrusion(zone, visit, anchor, now)))
        if zone.loitering is not None and cls in zone.loitering.classes:
            found.append((EventKind.LOITERING, loitering(zone.loitering, visit, now)))
        if zone.wrong_way is not None and cls in zone.wrong_way.classes:
            velocity = memory.motion.velocity(SPEED_WINDOW_S)
            found.append((EventKind.WRONG_WAY, wrong_way(zone.wrong_way, visit, velocity, now)))
        if zone.stopped_vehicle is not None and cls in zone.stopped_vehicle.classes:
            details = stopped_vehicle(zone.stopped_vehicle, visit, anchor, now)
            found.append((EventKind.STOPPED_VEHICLE, details))
        if zone.person_down is not None and cls == "person":
            ratio = pixel_ratio(track.box, frame_tracks.frame)
            speed = memory.motion.speed(SPEED_WINDOW_S)
            details = person_down(zone.person_down, visit, ratio, speed, memory.has_stood, now)
            found.append((EventKind.PERSON_DOWN, details))
        events = []
        for kind, details in found:
            if details is None or kind in visit.raised:
                continue
            visit.raised.add(kind)
            events.append(self._event(kind, zone.name, track, frame_tracks, details))
        return events

    @staticmethod
    def _intrusion(
        zone: ZoneSpec, visit: Visit, anchor: Point, now: float
    ) -> dict[str, str] | None:
        dwell = visit.dwell(now)
        if not reached(dwell, zone.min_dwell_s):
            return None
        return {
            "dwell_s": fmt(dwell),
            "min_dwell_s": fmt(zone.min_dwell_s),
            "anchor_x": fmt(anchor[0]),
            "anchor_y": fmt(anchor[1]),
        }

    def _check_weapon(
        self, track: Track, memory: _TrackMemory, frame_tracks: FrameTracks
    ) -> list[Event]:
        weapon = self._scene.weapon
        if weapon is None or memory.weapon_raised or track.class_name not in weapon.classes:
            return []
        memory.weapon_raised = True
        anchor = track.box.bottom_centre
        zone = next((z.name for z in self._scene.zones if z.polygon.contains(anchor)), "")
        details = {"confidence": fmt(track.confidence), "classes": ",".join(sorted(weapon.classes))}
        return [self._event(EventKind.WEAPON, zone, track, frame_tracks, details)]

    def _update_zones(self, frame_tracks: FrameTracks, ended: set[str]) -> list[Event]:
        """The rules that look at everything in a zone at once."""
        frame, now = frame_tracks.frame, frame_tracks.frame.captured_at
        live = [t for t in frame_tracks.tracks if t.track_id not in ended]
        anchors = {t.track_id: self._last_anchor(t) for t in live}
        people = [t for t in live if t.class_name == "person"]
        heatmap = self._heatmap.encode([a for t in people if (a := anchors[t.track_id])])
        observed_people = [t.box for t in people if t.state in OBSERVED_STATES]
        events: list[Event] = []
        for zone in self._scene.zones:
            inside = [
                t
                for t in live
                if (a := anchors[t.track_id]) is not None and zone.polygon.contains(a)
            ]
            counter = self._occupancy.get(zone.name)
            if counter is not None:
                classes = counter.spec.classes
                events.extend(
                    counter.update(frame, {t.track_id for t in inside if t.class_name in classes})
                )
            if not zone.schedule.active_at(now):
                continue
            crowd = self._crowds.get(zone.name)
            if crowd is not None:
                members = [
                    Member(t.track_id, anchors[t.track_id] or (0.0, 0.0), self._velocity(t))
                    for t in inside
                    if t.class_name in crowd.spec.classes
                ]
                events.extend(crowd.update(frame, members, heatmap))
            watch = self._abandoned.get(zone.name)
            if watch is not None:
                objects = [
                    t
                    for t in inside
                    if t.class_name in watch.spec.classes and t.state in OBSERVED_STATES
                ]
                events.extend(watch.update(frame, objects, observed_people, ended))
        return events

    def _last_anchor(self, track: Track) -> Point | None:
        memory = self._tracks.get(track.track_id)
        return None if memory is None else memory.anchor

    def _velocity(self, track: Track) -> tuple[float, float] | None:
        memory = self._tracks.get(track.track_id)
        return None if memory is None else memory.motion.velocity(SPEED_WINDOW_S)

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
        return make_event(
            kind,
            frame_tracks.frame,
            name,
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
