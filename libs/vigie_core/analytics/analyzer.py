"""Scene rules over tracks: every track-based event of the catalogue, for one camera.

Per track and zone stay: intrusion, loitering, wrong way, stopped vehicle, person on the ground,
each a registered rule of its own (``rules``). Per line: directed crossings with running counts.
Per zone and frame: crowd density and movement (``crowd``), abandoned and removed objects
(``abandoned``), occupancy per period (``occupancy``). Per track: a weapon class from a
plugged-in detector.

Everything is driven by the frames' capture times and by *observed* positions only. A ``LOST``
track's box is the tracker's prediction of where the object might be; acting on it would let a
prediction drift into a zone or across a line and raise an event nobody can see on the frame the
event points at. Such frames keep the track's memory alive, and its next observed position
is compared with its last observed one, so an object that crossed a line while hidden is still
counted when it reappears on the other side.

The anchor of every rule is the box's bottom-centre: where a person stands or a vehicle touches
the ground, which is what a zone drawn on the floor is about.

Memory is per track (``memory``) and is dropped when the tracker reports the track ended, or
when a track has not appeared for ``forget_after_s`` (an end notice lost to a restart must not
leak memory). Line counts live as long as the analyser.

All of this lives in memory only; ``snapshot`` writes it out as plain JSON values and
``restore`` reads it back, checked field by field, so that a restarted or rebalanced service
carries on where the last one stopped: stays keep their dwell, counts keep counting, and what
was raised is not raised again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vigie_core.analytics.abandoned import AbandonedWatch
from vigie_core.analytics.crowd import CrowdWatch, HeatMap, Member
from vigie_core.analytics.explain import fmt, make_event
from vigie_core.analytics.memory import Layout, LineSide, TrackMemory
from vigie_core.analytics.motion import SPEED_WINDOW_S
from vigie_core.analytics.occupancy import OccupancyCounter
from vigie_core.analytics.rules import Seen, StayRule, rule_of, stay_rules
from vigie_core.analytics.visit import Visit
from vigie_core.geometry import Point
from vigie_core.scene import CountDirection, LineSpec, SceneSpec, ZoneSpec
from vigie_core.snapshots import as_int, as_list, as_mapping, as_str, entries, invalid, key
from vigie_core.snapshots import field as read_field
from vigie_core.types import Event, EventKind, FrameTracks, Track, TrackState

# States whose box matched a detection on this very frame.
OBSERVED_STATES = frozenset({TrackState.NEW, TrackState.TRACKED})

DEFAULT_FORGET_AFTER_S = 30.0

SNAPSHOT_VERSION = 1
"""Layout of ``SceneAnalyzer.snapshot``. Bump it whenever a field changes meaning or a new field
is needed to continue ``update`` exactly: a reader refuses what it cannot continue faithfully."""

RuleUse = tuple[StayRule[Any], Any]  # a rule and its parameters in one zone


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
        self._tracks: dict[str, TrackMemory] = {}
        # Each zone's per-stay rules with their parameters, in registry order; and the rules
        # that follow every track of the camera, with their parameters in every zone.
        self._zone_rules = {z.name: _rules_of(z) for z in scene.zones}
        uses = [use for zone_uses in self._zone_rules.values() for use in zone_uses]
        self._followers = tuple(
            (rule, params)
            for rule in stay_rules()
            if (params := tuple(p for r, p in uses if r is rule))
        )
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
        self._fingerprint = scene.fingerprint()

    def _layout(self) -> Layout:
        return Layout(
            lines=[line.name for line in self._scene.lines],
            zone_rules={
                name: [rule for rule, _ in uses] for name, uses in self._zone_rules.items()
            },
            followers={rule.name: rule for rule, _ in self._followers},
        )

    @property
    def scene(self) -> SceneSpec:
        return self._scene

    # -- saved state -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything later frames depend on, as plain JSON values (``json.dumps`` takes it as
        is), for the service to store after each batch so that ``restore`` in another process
        continues ``update`` exactly: same events, same ids, nothing raised twice. It shares
        nothing with the analyser.

        Keys: ``version``; ``camera_id``; ``scene``, the scene's fingerprint (the state is only
        valid under the scene it was measured with); ``tracks``, each remembered track with its
        ``track_id``, ``last_seen``, ``class_name``, last observed ``anchor``, ``visits`` (its
        stays per zone: entry, exit grace, what was raised, each rule's running measure),
        ``sides`` per line, ``motion`` (recent anchors), ``notes`` (what rules remember about
        the track, by rule: that a person was seen standing) and ``weapon_raised``;
        ``counts`` per line as ``[forward, backward]``; and per zone the state of its
        ``crowds``, ``abandoned`` and ``occupancy`` watches. The heat map is drawn afresh on
        every frame and has nothing to save. ``forget_after_s`` is the service's setting, not
        state. Floats go out at full precision, which is what makes the resumed analyser
        identical rather than merely close. The size is bounded by what is live: tracks are
        forgotten, motion keeps a few seconds, watched objects leave when unseen.
        """
        return {
            "version": SNAPSHOT_VERSION,
            "camera_id": self._scene.camera_id,
            "scene": self._fingerprint,
            "tracks": [memory.snapshot(track_id) for track_id, memory in self._tracks.items()],
            "counts": {name: [fwd, bwd] for name, (fwd, bwd) in self._counts.items()},
            "crowds": {name: watch.snapshot() for name, watch in self._crowds.items()},
            "abandoned": {name: watch.snapshot() for name, watch in self._abandoned.items()},
            "occupancy": {name: counter.snapshot() for name, counter in self._occupancy.items()},
        }

    @classmethod
    def restore(
        cls,
        scene: SceneSpec,
        doc: Mapping[str, Any],
        forget_after_s: float = DEFAULT_FORGET_AFTER_S,
    ) -> SceneAnalyzer:
        """The analyser a ``snapshot`` was taken of, under ``scene``.

        Raises ``ValueError`` naming the faulty field (``tracks[2].visits["gate"].entered_at:
        expected a finite number``) for a snapshot of another camera, of another scene (its
        fingerprint differs), of an unknown version, or with any missing, mistyped, non-finite
        or inconsistent field: the caller's safe answer is a fresh analyser, never one that
        carries on from state it cannot trust.
        """
        root = as_mapping(doc, "snapshot")
        version = read_field(root, "version", "snapshot")
        if isinstance(version, bool) or version != SNAPSHOT_VERSION:
            raise invalid(
                "version", f"got {version!r}, this analyser reads version {SNAPSHOT_VERSION}"
            )
        camera_id = as_str(read_field(root, "camera_id", "snapshot"), "camera_id")
        if camera_id != scene.camera_id:
            raise invalid(
                "camera_id", f"a snapshot of camera {camera_id!r}, not {scene.camera_id!r}"
            )
        analyzer = cls(scene, forget_after_s)
        fingerprint = as_str(read_field(root, "scene", "snapshot"), "scene")
        if fingerprint != analyzer._fingerprint:
            raise invalid("scene", "taken under another scene spec (its fingerprint differs)")
        layout = analyzer._layout()
        for i, raw in enumerate(as_list(read_field(root, "tracks", "snapshot"), "tracks")):
            track_id, memory = TrackMemory.restore(raw, f"tracks[{i}]", layout)
            if track_id in analyzer._tracks:
                raise invalid(f"tracks[{i}].track_id", f"track {track_id!r} listed twice")
            analyzer._tracks[track_id] = memory
        counts = entries(read_field(root, "counts", "snapshot"), "counts", list(analyzer._counts))
        for name, raw in counts.items():
            at = key("counts", name)
            pair = as_list(raw, at)
            if len(pair) != 2:
                raise invalid(at, f"expected [forward, backward], got {len(pair)} items")
            analyzer._counts[name] = [
                as_int(n, f"{at}[{i}]", minimum=0) for i, n in enumerate(pair)
            ]
        analyzer._restore_zones(root)
        return analyzer

    def _restore_zones(self, root: Mapping[str, Any]) -> None:
        """The per-zone watches, in place of the fresh ones ``__init__`` made for the scene."""
        zones = {z.name: z for z in self._scene.zones}
        crowds = entries(read_field(root, "crowds", "snapshot"), "crowds", list(self._crowds))
        for name, raw in crowds.items():
            spec = self._crowds[name].spec
            area = self._scene.zone_area_m2(zones[name])
            self._crowds[name] = CrowdWatch.restore(name, spec, area, raw, key("crowds", name))
        raw_abandoned = read_field(root, "abandoned", "snapshot")
        for name, raw in entries(raw_abandoned, "abandoned", list(self._abandoned)).items():
            spec_a = self._abandoned[name].spec
            self._abandoned[name] = AbandonedWatch.restore(
                name, spec_a, raw, key("abandoned", name)
            )
        raw_occupancy = read_field(root, "occupancy", "snapshot")
        for name, raw in entries(raw_occupancy, "occupancy", list(self._occupancy)).items():
            spec_o = self._occupancy[name].spec
            self._occupancy[name] = OccupancyCounter.restore(
                name, spec_o, raw, key("occupancy", name)
            )

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
            memory = self._tracks[track.track_id] = TrackMemory(last_seen=now)
        memory.last_seen = now
        memory.class_name = track.class_name
        if track.state not in OBSERVED_STATES:
            return []
        anchor = track.box.bottom_centre
        memory.motion.add(now, anchor)
        seen = Seen(track, frame_tracks.frame, anchor, memory.motion, memory.notes)
        events: list[Event] = []
        for zone in self._scene.zones:
            events.extend(self._check_zone(zone, seen, memory, frame_tracks))
        for line in self._scene.lines:
            if line.applies_to(track.class_name):
                event = self._check_line(line, track, memory, anchor, frame_tracks)
                if event is not None:
                    events.append(event)
        events.extend(self._check_weapon(track, memory, frame_tracks))
        # Notes are taken after every zone was checked: a rule sees what was known before
        # this frame, as it would have without the note.
        for rule, uses in self._followers:
            note = rule.follow(uses, seen, memory.notes.get(rule.name))
            if note is None:
                memory.notes.pop(rule.name, None)
            else:
                memory.notes[rule.name] = note
        memory.anchor = anchor
        return events

    def _check_zone(
        self, zone: ZoneSpec, seen: Seen, memory: TrackMemory, frame_tracks: FrameTracks
    ) -> list[Event]:
        """Every per-stay rule of one zone. A stay ends only once the anchor has been seen
        outside for the zone's exit grace; until then the rules pause and a return resumes it."""
        now = seen.now
        visit = memory.visits.get(zone.name)
        if not zone.polygon.contains(seen.anchor):
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
        # Every rule is checked before any event is made, also those that already raised in
        # this stay: what they measure stays current.
        cls = seen.track.class_name
        found = [
            (rule.kind, rule.check(params, visit, seen))
            for rule, params in self._zone_rules[zone.name]
            if rule.applies(params, cls)
        ]
        events = []
        for kind, details in found:
            if details is None or kind in visit.raised:
                continue
            visit.raised.add(kind)
            events.append(self._event(kind, zone.name, seen.track, frame_tracks, details))
        return events

    def _check_weapon(
        self, track: Track, memory: TrackMemory, frame_tracks: FrameTracks
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
        memory: TrackMemory,
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
            memory.sides[line.name] = LineSide(side=side)
            return None
        met_segment = state.met_segment
        memory.sides[line.name] = LineSide(side=side)
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


def _rules_of(zone: ZoneSpec) -> tuple[RuleUse, ...]:
    """The zone's per-stay rules with their parameters, in registry order. Parameters no
    registered rule owns are refused here, where the registry is known: ignoring them would
    leave a zone silently unwatched."""
    for params in zone.rules:
        try:
            rule_of(params)
        except ValueError as exc:
            raise ValueError(f"zone {zone.name!r}: {exc}") from None
    uses = ((rule, rule.params_of(zone)) for rule in stay_rules())
    return tuple((rule, params) for rule, params in uses if params is not None)
