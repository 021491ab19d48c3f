"""Saving and restoring a camera's analytics state (``SceneAnalyzer.snapshot`` / ``restore``).

The property that matters: an analyser restored from a snapshot (through JSON, as the service
stores it) continues exactly as the one it was taken of. Each scene below exercises some of the
rules with stays, timers, counts and watches in every phase; the analyser is saved and replaced
by its restored copy before every frame, and must raise the very events an uninterrupted one
raises: same ids, kinds, frames and explanations, nothing twice, nothing lost.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.core.mutations import Mutation, delete_at, set_at
from vigie_core.analytics import SNAPSHOT_VERSION, SceneAnalyzer
from vigie_core.analytics.rules.loitering import LoiteringSpec
from vigie_core.analytics.rules.person_down import PersonDownSpec
from vigie_core.analytics.rules.stopped_vehicle import StoppedVehicleSpec
from vigie_core.analytics.rules.wrong_way import WrongWaySpec
from vigie_core.geometry import Line, Polygon
from vigie_core.rules import AbandonedSpec, CrowdSpec, OccupancySpec, WeaponSpec
from vigie_core.scene import LineSpec, SceneSpec
from vigie_core.types import Event, EventKind, Track

from .scenes import (
    BAG,
    CAMERA,
    CAR,
    FLOOR,
    INSIDE,
    LOST,
    LYING,
    OBSERVED,
    OUTSIDE,
    Clip,
    along,
    box_on,
    jittered,
    run,
    scene,
    ticks,
    track,
    zone,
)
from .test_crowd_movement import circling

Script = Callable[[float], tuple[list[Track], list[str]]]


def film(end_s: float, script: Script) -> Clip:
    """A clip from 0 to ``end_s`` whose frame at ``t`` holds ``script(t)``: (tracks, ended)."""
    clip = Clip()
    for t in ticks(0.0, end_s):
        tracks, ended = script(t)
        clip.add(t, *tracks, ended=ended)
    return clip


def at(t: float, when: float) -> bool:
    return abs(t - when) < 1e-6


# --- scenes -------------------------------------------------------------------------------------


def entrance() -> tuple[SceneSpec, Clip]:
    """Intrusion after a dwell, loitering, a counting line, occupancy per 10 s.

    p1 walks in, stays, leaves for 3 s (a new stay) and comes back; p2 walks down through the
    door line and the hall, hidden while crossing, and back up; p3 stands in the hall from 5 s
    until its track ends at 10 s.
    """
    hall = zone(
        "hall",
        intrusion=True,
        classes=frozenset({"person"}),
        min_dwell_s=2.0,
        loitering=LoiteringSpec(max_dwell_s=6.0),
    )
    door = LineSpec("door", Line((0.0, 0.3), (1.0, 0.3)), hysteresis=0.02)
    spec = SceneSpec(CAMERA, zones=(hall,), lines=(door,), occupancy=OccupancySpec(period_s=10.0))
    p1 = along(
        (0.0, OUTSIDE), (1.0, INSIDE), (12.0, INSIDE), (13.0, OUTSIDE), (16.0, OUTSIDE),
        (17.0, INSIDE),
    )  # fmt: skip
    p2 = along((0.0, (0.5, 0.1)), (3.0, (0.5, 0.5)), (6.0, (0.5, 0.1)), (9.0, (0.5, 0.5)))

    def script(t: float) -> tuple[list[Track], list[str]]:
        tracks = [track("p1", p1(t)), track("p2", p2(t), state=LOST if 1.2 < t < 2.2 else OBSERVED)]
        if 5.0 <= t < 10.0 - 1e-6:
            tracks.append(track("p3", (0.3, 0.6)))
        return tracks, ["p3"] if at(t, 10.0) else []

    return spec, film(30.0, script)


def road() -> tuple[SceneSpec, Clip]:
    """A car stopping in a one-way lane, a person walking down it, a knife seen now and then."""
    lane = zone(
        "lane",
        wrong_way=WrongWaySpec(direction=(0.0, -1.0)),
        stopped_vehicle=StoppedVehicleSpec(max_stop_s=5.0),
    )
    spec = scene(lane, weapon=WeaponSpec(frozenset({"knife"})))
    rng = random.Random(7)
    arriving = along((0.0, (0.0, 0.8)), (1.0, (0.5, 0.8)))
    walking = along((2.0, (0.3, 0.45)), (10.0, (0.3, 0.85)))

    def script(t: float) -> tuple[list[Track], list[str]]:
        car = track("c1", jittered(box_on(arriving(t), CAR), rng, 0.012), cls="car")
        tracks = [car, track("p1", walking(t))]
        if t >= 4.0:
            state = LOST if 5.0 <= t < 6.0 else OBSERVED
            tracks.append(track("k1", (0.31, 0.6), cls="knife", size=(0.03, 0.05), state=state))
        return tracks, []

    return spec, film(15.0, script)


def fall() -> tuple[SceneSpec, Clip]:
    """A person standing, falling, lying still, then getting up; another walking past."""
    spec = scene(zone("platform", person_down=PersonDownSpec(min_down_s=3.0)))
    rng = random.Random(11)
    passing = along((0.0, (0.25, 0.9)), (15.0, (0.75, 0.9)))

    def script(t: float) -> tuple[list[Track], list[str]]:
        size = LYING if 3.0 <= t < 12.0 else (0.06, 0.3)
        p1 = track("p1", jittered(box_on(INSIDE, size), rng, 0.002))
        return [p1, track("p2", passing(t))], []

    return spec, film(15.0, script)


def square() -> tuple[SceneSpec, Clip]:
    """Five people walking circles, then rushing at 35 s; a sixth standing with them for two
    spells, which takes the zone over its limit twice (raised, cleared, raised again)."""
    crowd = CrowdSpec(max_people=5, min_duration_s=2.0, clear_s=3.0)
    spec = scene(zone("square", crowd=crowd))
    five = circling(rush_at_s=35.0)

    def script(t: float) -> tuple[list[Track], list[str]]:
        tracks = five(t)
        if 5.0 <= t < 15.0 or 25.0 <= t < 35.0:
            tracks.append(track("p9", (0.45, 0.9)))
        return tracks, []

    return spec, film(45.0, script)


def left_luggage() -> tuple[SceneSpec, Clip]:
    """b1, jittering, left by its owner (abandoned), its track lost and taken over by b2, then
    taken away (removed); b4 and b5 stand by their owner and are picked up together (two
    removals on one frame, not abandoned); b3 is carried through (neither)."""
    spec = scene(
        zone("hall", abandoned=AbandonedSpec(static_s=3.0, unattended_s=2.0, removal_grace_s=1.0))
    )
    rng = random.Random(3)
    owner = along((0.0, (0.56, 0.8)), (5.0, (0.56, 0.8)), (6.0, (0.95, 0.8)))
    carried = along((2.0, (0.25, 0.6)), (8.0, (0.75, 0.6)))

    def script(t: float) -> tuple[list[Track], list[str]]:
        tracks = [track("o1", owner(t)), track("o2", (0.25, 0.9))]
        if t < 10.0 - 1e-6:
            box = jittered(box_on((0.5, 0.8), BAG), rng, 0.006)
            tracks.append(track("b1", box, cls="backpack"))
        elif 10.5 <= t < 15.0:
            tracks.append(track("b2", (0.501, 0.8), cls="backpack", size=BAG))
        if t < 12.0 - 1e-6:
            tracks.append(track("b4", (0.25, 0.62), cls="suitcase", size=BAG))
            tracks.append(track("b5", (0.32, 0.62), cls="suitcase", size=BAG))
        if 2.0 <= t < 8.0:
            tracks.append(track("b3", (carried(t)[0], 0.6), cls="handbag", size=BAG))
        ended = {8.0: ["b3"], 10.0: ["b1"], 12.0: ["b4", "b5"]}
        return tracks, next((ids for when, ids in ended.items() if at(t, when)), [])

    return spec, film(20.0, script)


SCENES: dict[str, tuple[Callable[[], tuple[SceneSpec, Clip]], set[EventKind]]] = {
    "entrance": (
        entrance,
        {
            EventKind.ZONE_INTRUSION,
            EventKind.LOITERING,
            EventKind.LINE_CROSSING,
            EventKind.OCCUPANCY,
        },
    ),
    "road": (road, {EventKind.WRONG_WAY, EventKind.STOPPED_VEHICLE, EventKind.WEAPON}),
    "fall": (fall, {EventKind.PERSON_DOWN}),
    "square": (square, {EventKind.CROWD_DENSITY, EventKind.CROWD_MOVEMENT}),
    "left_luggage": (left_luggage, {EventKind.ABANDONED_OBJECT, EventKind.OBJECT_REMOVED}),
}


def through_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The snapshot as it comes back from storage (strict JSON: no NaN, no infinity)."""
    loaded: dict[str, Any] = json.loads(json.dumps(doc, allow_nan=False))
    return loaded


def resumed_every(spec: SceneSpec, clip: Clip, every: int) -> list[Event]:
    """The events of an analyser replaced by its restored snapshot before every ``every``-th
    frame; each restored copy must also save exactly the snapshot it was made from."""
    analyzer = SceneAnalyzer(spec)
    events: list[Event] = []
    for k, frame in enumerate(clip.frames):
        if k % every == 0:
            doc = through_json(analyzer.snapshot())
            analyzer = SceneAnalyzer.restore(spec, doc)
            assert analyzer.snapshot() == doc
        events.extend(analyzer.update(frame))
    return events


# --- continuing exactly -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENES))
def test_the_scenes_raise_what_they_are_meant_to(name: str) -> None:
    """The scenes really exercise their rules (so the resumption test cannot pass vacuously)."""
    build, kinds = SCENES[name]
    spec, clip = build()
    events = run(SceneAnalyzer(spec), clip)
    assert {e.kind for e in events} == kinds


def test_the_scenes_raise_events_more_than_once_per_rule() -> None:
    """Stays that end and start again, densities that clear, several crossings and removals."""
    counts = {
        name: len(run(SceneAnalyzer(spec), clip))
        for name, (spec, clip) in ((n, build()) for n, (build, _) in SCENES.items())
    }
    assert counts["entrance"] >= 10
    assert counts["square"] == 3
    assert counts["left_luggage"] == 4


@pytest.mark.parametrize("every", [1, 7])
@pytest.mark.parametrize("name", sorted(SCENES))
def test_a_restored_analyser_continues_exactly(name: str, every: int) -> None:
    spec, clip = SCENES[name][0]()
    expected = run(SceneAnalyzer(spec), clip)
    assert expected
    assert resumed_every(spec, clip, every) == expected


def test_restoring_keeps_the_counts_and_forgets_no_track() -> None:
    spec, clip = entrance()
    analyzer = run_to(spec, clip, 80)
    restored = SceneAnalyzer.restore(spec, through_json(analyzer.snapshot()))
    assert restored.counts() == analyzer.counts() != {"door": (0, 0)}
    assert restored.tracked_count() == analyzer.tracked_count() == 3


def test_restore_takes_the_service_s_forget_after() -> None:
    spec, clip = entrance()
    doc = through_json(run_to(spec, clip, 80).snapshot())
    later = clip.frames[150]  # p3 has gone (its end notice was on a frame not replayed)
    restored = SceneAnalyzer.restore(spec, doc)
    restored.update(later)
    assert restored.tracked_count() == 3
    restored = SceneAnalyzer.restore(spec, doc, forget_after_s=0.05)
    restored.update(later)
    assert restored.tracked_count() == 2
    with pytest.raises(ValueError, match="forget_after_s"):
        SceneAnalyzer.restore(spec, doc, forget_after_s=0.0)


def test_a_fresh_analyser_round_trips() -> None:
    spec = entrance()[0]
    doc = through_json(SceneAnalyzer(spec).snapshot())
    assert doc["version"] == SNAPSHOT_VERSION
    assert doc["camera_id"] == CAMERA
    assert doc["tracks"] == []
    assert SceneAnalyzer.restore(spec, doc).snapshot() == doc


def run_to(spec: SceneSpec, clip: Clip, frames: int) -> SceneAnalyzer:
    analyzer = SceneAnalyzer(spec)
    for frame in clip.frames[:frames]:
        analyzer.update(frame)
    return analyzer


# --- the scene fingerprint ----------------------------------------------------------------------


def test_the_fingerprint_depends_on_content_not_on_spelling() -> None:
    one = SceneSpec(CAMERA, zones=(zone("a", classes=frozenset({"car", "bus", "person"})),))
    same = SceneSpec(CAMERA, zones=(zone("a", classes=["person", "bus", "car"]),))  # type: ignore[arg-type]
    whole = SceneSpec(
        CAMERA, zones=(zone("a", classes=frozenset({"car", "bus", "person"}), min_dwell_s=0),)
    )
    assert one.fingerprint() == same.fingerprint() == whole.fingerprint()
    assert len(one.fingerprint()) == 64
    moved = SceneSpec(CAMERA, zones=(zone("a", Polygon.of([(0, 0), (1, 0), (1, 1)])),))
    assert moved.fingerprint() != one.fingerprint()
    slower = SceneSpec(CAMERA, zones=(zone("a", loitering=LoiteringSpec(max_dwell_s=61.0)),))
    default = SceneSpec(CAMERA, zones=(zone("a", loitering=LoiteringSpec()),))
    assert slower.fingerprint() != default.fingerprint()


# --- refusals -----------------------------------------------------------------------------------


def busy() -> tuple[SceneSpec, dict[str, Any]]:
    """A scene using every kind of state, saved while every part of it holds some."""
    hall = zone(
        "hall",
        FLOOR,
        intrusion=True,
        loitering=LoiteringSpec(max_dwell_s=60.0),
        wrong_way=WrongWaySpec(direction=(0.0, -1.0)),
        stopped_vehicle=StoppedVehicleSpec(),
        person_down=PersonDownSpec(),
        abandoned=AbandonedSpec(),
        crowd=CrowdSpec(max_people=1, min_duration_s=1.0),
    )
    door = LineSpec("door", Line((0.0, 0.3), (1.0, 0.3)))
    spec = SceneSpec(CAMERA, zones=(hall,), lines=(door,), occupancy=OccupancySpec(period_s=10.0))
    clip = Clip().span(
        0,
        4,
        lambda t: [
            track("p1", INSIDE),
            track("p2", (0.5, 0.1 + 0.05 * t)),
            track("p3", (0.3, 0.6)),
            track("c1", (0.4, 0.7), cls="car", size=CAR),
            track("b1", (0.6, 0.9), cls="backpack", size=BAG),
        ],
    )
    analyzer = SceneAnalyzer(spec)
    raised = run(analyzer, clip)
    assert {e.kind for e in raised} >= {EventKind.ZONE_INTRUSION, EventKind.CROWD_DENSITY}
    doc = through_json(analyzer.snapshot())
    assert doc["tracks"][0]["visits"]["hall"]["raised"] == ["zone_intrusion"]
    assert doc["tracks"][1]["sides"]["door"]["side"] == 1
    assert doc["tracks"][0]["notes"] == {"person_down": True}
    assert set(doc["tracks"][3]["visits"]["hall"]["measures"]) == {"stopped_vehicle"}
    assert doc["abandoned"]["hall"]["objects"]
    return spec, doc


def _truncate(doc: dict[str, Any]) -> None:
    """What is left of a document cut half way: its first keys only."""
    for name in list(doc)[len(doc) // 2 :]:
        del doc[name]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (set_at("version", 2), "version: got 2, this analyser reads version 1"),
        (set_at("version", True), "version: got True"),
        (delete_at("version"), "snapshot: missing key 'version'"),
        (set_at("camera_id", "cam-2"), "camera_id: a snapshot of camera 'cam-2', not 'cam-1'"),
        (set_at("camera_id", ""), "camera_id: expected a non-empty string"),
        (set_at("scene", "0" * 64), "scene: taken under another scene spec"),
        (_truncate, "snapshot: missing key"),
        (delete_at("counts"), "snapshot: missing key 'counts'"),
        (set_at("tracks", {}), "tracks: expected a list"),
        (set_at("tracks.0", []), r"tracks\[0\]: expected an object"),
        (delete_at("tracks.0.motion"), r"tracks\[0\]: missing key 'motion'"),
        (set_at("tracks.1.track_id", "p1"), r"tracks\[1\]\.track_id: track 'p1' listed twice"),
        (set_at("tracks.0.last_seen", math.nan), r"tracks\[0\]\.last_seen: expected a finite"),
        (set_at("tracks.0.class_name", 3), r"tracks\[0\]\.class_name: expected a string"),
        (set_at("tracks.0.anchor", [0.5]), r"tracks\[0\]\.anchor: expected 2 numbers, got 1"),
        (
            set_at("tracks.0.visits.hall.entered_at", math.nan),
            r'tracks\[0\]\.visits\["hall"\]\.entered_at: expected a finite number',
        ),
        (
            set_at("tracks.0.visits.hall.entered_at", "12"),
            r'tracks\[0\]\.visits\["hall"\]\.entered_at: expected a number',
        ),
        (
            set_at("tracks.0.visits.gate", {}),
            r'tracks\[0\]\.visits\["gate"\]: no such name in the scene',
        ),
        (
            set_at("tracks.0.visits.hall.raised", ["zone_intrusion", "zone_intrusion"]),
            r"raised\[1\]: 'zone_intrusion' listed twice",
        ),
        (
            set_at("tracks.0.visits.hall.raised", ["fire"]),
            r'visits\["hall"\]\.raised\[0\]: expected a kind this zone raises',
        ),
        (
            set_at("tracks.3.visits.hall.measures.stopped_vehicle.since", math.inf),
            r'visits\["hall"\]\.measures\["stopped_vehicle"\]\.since: expected a finite number',
        ),
        (
            set_at(
                "tracks.3.visits.hall.measures.stopped_vehicle",
                {"since": 1.0, "at": None, "samples": 1},
            ),
            r'measures\["stopped_vehicle"\]: since, at and samples are all set or all empty',
        ),
        (
            set_at("tracks.3.visits.hall.measures.stopped_vehicle.samples", -1),
            r'measures\["stopped_vehicle"\]\.samples: expected an integer >= 0',
        ),
        (
            set_at("tracks.0.visits.hall.measures.wrong_way", "1.5"),
            r'tracks\[0\]\.visits\["hall"\]\.measures\["wrong_way"\]: expected a number',
        ),
        (
            set_at("tracks.0.visits.hall.measures.loitering", 1.0),
            r'measures\["loitering"\]: the loitering rule measures nothing',
        ),
        (
            set_at("tracks.0.visits.hall.measures.fire", 1.0),
            r'measures\["fire"\]: no such rule in this zone',
        ),
        (set_at("tracks.0.visits.hall.measures", []), r"measures: expected an object"),
        (set_at("tracks.1.sides.door.side", 0), r'sides\["door"\]\.side: expected 1 or -1'),
        (set_at("tracks.1.sides.door.side", 2), r'sides\["door"\]\.side: expected an integer'),
        (set_at("tracks.1.sides.exit", {}), r'sides\["exit"\]: no such name in the scene'),
        (set_at("tracks.0.motion.0", [1.0, 0.5]), r"motion\[0\]: expected 3 numbers"),
        (set_at("tracks.0.motion.1.0", 0.0), r"motion\[1\]: times must not go backwards"),
        (set_at("tracks.0.motion.0.0", 0.0), r"tracks\[0\]\.motion: points span more than"),
        (set_at("tracks.0.notes.person_down", 1), r'notes\["person_down"\]: expected true'),
        (set_at("tracks.0.notes.weapon", True), r'notes\["weapon"\]: no such name in the scene'),
        (set_at("counts.door", [1]), r'counts\["door"\]: expected \[forward, backward\]'),
        (set_at("counts.door", [1, -1]), r'counts\["door"\]\[1\]: expected an integer >= 0'),
        (set_at("counts.exit", [0, 0]), r'counts\["exit"\]: no such name in the scene'),
        (delete_at("counts.door"), "counts: missing key 'door'"),
        (delete_at("crowds.hall"), "crowds: missing key 'hall'"),
        (
            set_at("crowds.hall.base_speed", math.inf),
            r'crowds\["hall"\]\.base_speed: expected a finite',
        ),
        (
            set_at("crowds.hall.baseline_age_s", -1.0),
            r'crowds\["hall"\]\.baseline_age_s: expected a number >= 0',
        ),
        (set_at("crowds.hall.density_raised", None), r"density_raised: expected true or false"),
        (
            set_at("abandoned.hall.objects.0.box", [0.1, 0.2, 0.3]),
            r'abandoned\["hall"\]\.objects\[0\]\.box: expected 4 numbers',
        ),
        (
            set_at("abandoned.hall.objects.0.abandoned", True),
            r"objects\[0\]: abandoned without having been static",
        ),
        (delete_at("abandoned.hall.objects"), r"abandoned\[\"hall\"\]: missing key 'objects'"),
        (
            set_at("occupancy.hall.inside", ["p1", "p1"]),
            r'occupancy\["hall"\]\.inside: a track is listed twice',
        ),
        (set_at("occupancy.hall.peak", 0), r'occupancy\["hall"\]\.peak: expected an integer >= 2'),
        (set_at("occupancy.hall.period", 1.5), r'occupancy\["hall"\]\.period: expected an integer'),
    ],
)
def test_unusable_snapshots_are_refused_naming_the_field(mutate: Mutation, message: str) -> None:
    spec, doc = busy()
    assert SceneAnalyzer.restore(spec, doc).snapshot() == doc
    mutate(doc)
    with pytest.raises(ValueError, match=message):
        SceneAnalyzer.restore(spec, doc)


@pytest.mark.parametrize("doc", [None, [], "{}", 3])
def test_a_snapshot_that_is_not_an_object_is_refused(doc: Any) -> None:
    with pytest.raises(ValueError, match="snapshot: expected an object"):
        SceneAnalyzer.restore(entrance()[0], doc)


def test_a_snapshot_of_another_camera_is_refused() -> None:
    spec, doc = busy()
    other = SceneSpec("cam-2", zones=spec.zones, lines=spec.lines, occupancy=spec.occupancy)
    with pytest.raises(ValueError, match="camera_id: a snapshot of camera 'cam-1', not 'cam-2'"):
        SceneAnalyzer.restore(other, doc)


def test_a_snapshot_of_a_changed_scene_is_refused() -> None:
    spec, doc = busy()
    (hall,) = spec.zones
    redrawn = zone("hall", Polygon.of([(0.1, 0.4), (0.8, 0.4), (0.8, 0.95)]))
    for changed in (
        SceneSpec(CAMERA, zones=(hall,), occupancy=spec.occupancy),  # the line was removed
        SceneSpec(CAMERA, zones=(redrawn,), lines=spec.lines, occupancy=spec.occupancy),
        SceneSpec(CAMERA, zones=spec.zones, lines=spec.lines, occupancy=OccupancySpec()),
    ):
        with pytest.raises(ValueError, match="scene: taken under another scene spec"):
            SceneAnalyzer.restore(changed, doc)


def test_whole_numbers_are_read_as_floats() -> None:
    """A writer that drops ".0" from whole numbers still gives the same analyser."""
    spec, doc = busy()
    doc["tracks"][0]["last_seen"] = int(doc["tracks"][0]["last_seen"])
    restored = SceneAnalyzer.restore(spec, doc).snapshot()
    assert restored["tracks"][0]["last_seen"] == float(doc["tracks"][0]["last_seen"])
    assert isinstance(restored["tracks"][0]["last_seen"], float)


# --- bounded --------------------------------------------------------------------------------------


def test_the_snapshot_stays_bounded_over_a_long_static_scene() -> None:
    """10 000 frames (17 min at 10 fps) of people standing, a car parked, a bag left, and a
    passer-by every 20 s whose track ends: the saved state does not grow with time."""
    spec, _ = busy()
    analyzer = SceneAnalyzer(spec)
    sizes: dict[int, int] = {}
    clip = Clip()
    for k, t in enumerate(ticks(0.0, 1000.0)):
        tracks = [
            track("p1", INSIDE),
            track("c1", (0.4, 0.7), cls="car", size=CAR),
            track("b1", (0.6, 0.9), cls="backpack", size=BAG),
        ]
        walker, phase = f"w{int(t // 20)}", t % 20
        ended = []
        if phase < 10.0:
            tracks.append(track(walker, (0.2 + 0.06 * phase, 0.6)))
        elif abs(phase - 10.0) < 1e-6:
            ended = [f"w{int(t // 20)}"]
        analyzer.update(clip.add(t, *tracks, ended=ended))
        if k + 1 in (1_000, 10_000):
            sizes[k + 1] = len(json.dumps(analyzer.snapshot()))
    assert analyzer.tracked_count() <= 4
    assert sizes[10_000] <= sizes[1_000] * 1.05
    assert sizes[10_000] < 40_000
