"""Unit tests of the time tracks spend in zones: the clock alone, and through the tracker."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from tests.unit.core.test_tracking_snapshot import random_scene
from vigie_core.geometry import Polygon
from vigie_core.scene import ZoneSpec
from vigie_core.tracking import CameraTracker, TrackerParams
from vigie_core.tracking.zone_time import ZoneClock, ZoneMap
from vigie_core.types import Box, Detection, FrameDetections, FrameRef, TrackSummary

CAMERA = "cam-1"
T0 = 1_700_000_000.0
PARAMS = TrackerParams(min_hits=3, lost_buffer_s=1.5)


def square(
    name: str, x1: float, y1: float, x2: float, y2: float, classes: frozenset[str] = frozenset()
) -> ZoneSpec:
    return ZoneSpec(name, Polygon(((x1, y1), (x2, y1), (x2, y2), (x1, y2))), classes)


# The middle of the frame, and a strip along its bottom edge.
MIDDLE = square("middle", 0.4, 0.3, 0.6, 0.7)
BOTTOM = square("bottom", 0.0, 0.9, 1.0, 1.0)
ZONES = (MIDDLE, BOTTOM)


def det(cx: float, bottom: float, cls: str = "person") -> Detection:
    """A detection whose bottom-centre (the anchor zones are judged on) is (cx, bottom)."""
    return Detection(Box(cx - 0.04, bottom - 0.2, cx + 0.04, bottom), cls, 0.9)


def frame(t: float, *detections: Detection, seq: int = 0) -> FrameDetections:
    return FrameDetections(FrameRef(CAMERA, seq, T0 + t), tuple(detections))


def summary_of(
    frames: Sequence[FrameDetections], zones: Sequence[ZoneSpec] = ZONES
) -> TrackSummary:
    tracker = CameraTracker(CAMERA, PARAMS, zones)
    for f in frames:
        tracker.update(f)
    (summary,) = tracker.flush()
    return summary


# --- the clock ----------------------------------------------------------------------------------


def test_time_inside_counts_between_observations() -> None:
    clock = ZoneClock()
    for t, inside in [(0.0, ()), (1.0, ("a",)), (2.0, ("a",)), (2.5, ("a", "b")), (4.0, ())]:
        clock.add(t, inside)
    # a: half of 0-1 (entered), 1-2, 2-2.5, half of 2.5-4 (left) = 0.5 + 1 + 0.5 + 0.75
    # b: half of 2-2.5 (entered), half of 2.5-4 (left) = 0.25 + 0.75
    assert clock.seconds() == {"a": 2.75, "b": 1.0}
    assert list(clock.seconds()) == ["a", "b"]  # in order of first entry


def test_leaving_and_coming_back_adds_both_stays() -> None:
    clock = ZoneClock()
    for t, inside in [(0, ("a",)), (2, ("a",)), (3, ()), (10, ()), (11, ("a",)), (14, ("a",))]:
        clock.add(float(t), inside)
    assert clock.seconds() == {"a": 2.0 + 0.5 + 0.5 + 3.0}


def test_a_zone_seen_once_is_listed_with_no_time_yet() -> None:
    clock = ZoneClock()
    clock.add(0.0, ("a",))
    assert clock.seconds() == {"a": 0.0}
    clock.add(1.0, ())
    assert clock.seconds() == {"a": 0.5}


def test_never_inside_is_no_entry() -> None:
    clock = ZoneClock()
    for t in range(5):
        clock.add(float(t), ())
    assert clock.seconds() == {}


def test_clock_state_resumes_exactly() -> None:
    steps = [(0.0, ()), (0.3, ("a",)), (0.7, ("a", "b")), (1.9, ("b",)), (2.2, ()), (3.0, ("a",))]
    whole = ZoneClock()
    for step in steps:
        whole.add(*step)
    for k in range(len(steps) - 1):
        first = ZoneClock()
        for step in steps[: k + 1]:
            first.add(*step)
        resumed = ZoneClock.read(json.loads(json.dumps(first.state())), "zone_time")
        for step in steps[k + 1 :]:
            resumed.add(*step)
        assert resumed.seconds() == whole.seconds()
        assert list(resumed.seconds()) == list(whole.seconds())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("seconds", [["a", -1.0]], r"zone_time\.seconds\[0\]\[1\]: expected a number >= 0"),
        ("seconds", [["a", 1.0], ["a", 2.0]], r"zone 'a' listed twice"),
        ("seconds", [["a"]], r"expected \[zone, seconds\]"),
        ("seconds", {"a": 1.0}, r"zone_time\.seconds: expected a list"),
        ("inside", ["c"], r"zones \['c'\] have no seconds"),
        ("inside", [""], r"zone_time\.inside\[0\]: expected a non-empty string"),
        ("last_time", None, "inside zones without a last_time"),
        ("last_time", "soon", r"zone_time\.last_time: expected a number"),
    ],
)
def test_clock_state_is_checked(key: str, value: object, message: str) -> None:
    clock = ZoneClock()
    clock.add(0.0, ("a",))
    clock.add(1.0, ("a", "b"))
    state = clock.state()
    state[key] = value
    with pytest.raises(ValueError, match=message):
        ZoneClock.read(state, "zone_time")


# --- the zones ----------------------------------------------------------------------------------


def test_zone_map_answers_in_scene_order_with_the_outline_inside() -> None:
    zones = ZoneMap((BOTTOM, MIDDLE, square("overlap", 0.5, 0.6, 0.9, 0.95)))
    assert zones.containing((0.5, 0.5)) == ("middle",)
    assert zones.containing((0.55, 0.65)) == ("middle", "overlap")
    assert zones.containing((0.7, 0.92)) == ("bottom", "overlap")
    assert zones.containing((0.5, 1.0)) == ("bottom",)  # on the frame border
    assert zones.containing((0.1, 0.1)) == ()


def test_the_quick_bounds_test_agrees_with_the_polygon_on_its_outline() -> None:
    # a hair outside the outline is on it for Polygon.contains, so for the zone map too
    point = (0.6 + 5e-10, 0.5)
    assert MIDDLE.polygon.contains(point)
    assert ZoneMap((MIDDLE,)).containing(point) == ("middle",)


def test_a_concave_zone_is_judged_by_its_outline_not_its_bounds() -> None:
    # an L: the bounding box holds (0.7, 0.3), the polygon does not
    ell = ZoneSpec(
        "ell", Polygon(((0.1, 0.1), (0.4, 0.1), (0.4, 0.6), (0.9, 0.6), (0.9, 0.9), (0.1, 0.9)))
    )
    zones = ZoneMap((ell,))
    assert zones.containing((0.7, 0.3)) == ()
    assert zones.containing((0.7, 0.8)) == ("ell",)


def test_zone_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match=r"\['middle'\] are used more than once"):
        CameraTracker(CAMERA, PARAMS, (MIDDLE, MIDDLE))


# --- through the tracker ------------------------------------------------------------------------


def test_walking_across_a_zone_counts_the_time_inside() -> None:
    # 0.1 of the frame per second along y = 0.5 from x = 0.1: inside MIDDLE from x 0.4 to 0.6
    frames = [frame(0.1 * i, det(0.1 + 0.01 * i, 0.5), seq=i) for i in range(80)]
    summary = summary_of(frames)
    # Within one frame interval: where the outline was crossed between two frames is unknown
    # (here the anchor lands exactly on it at x 0.4 and 0.6, which counts as inside: 2.1 s).
    assert summary.seconds_in_zone == {"middle": pytest.approx(2.0, abs=0.1)}


def test_a_track_lost_and_found_inside_a_zone_counts_the_gap() -> None:
    # standing in the middle for 5 s; the detector misses it from 2 s to 3 s (LOST, same id)
    frames = [frame(0.1 * i, det(0.5, 0.5), seq=i) for i in range(51) if not 20 <= i < 30]
    summary = summary_of(frames)
    assert summary.seconds_in_zone == {"middle": pytest.approx(5.0, abs=1e-6)}


def test_leaving_and_re_entering_adds_both_stays() -> None:
    # right across MIDDLE, on to x 0.8, then back left across it: two crossings of 2 s
    xs = [0.3 + 0.01 * i for i in range(51)] + [0.8 - 0.01 * i for i in range(1, 51)]
    frames = [frame(0.1 * i, det(x, 0.5), seq=i) for i, x in enumerate(xs)]
    summary = summary_of(frames)
    # the first stay starts at x 0.4 (1 s in), the second ends at the last frame (x 0.3)
    assert summary.seconds_in_zone == {"middle": pytest.approx(4.0, abs=0.15)}


def test_zones_are_about_presence_whatever_their_alert_classes() -> None:
    people_only = square("middle", 0.4, 0.3, 0.6, 0.7, classes=frozenset({"person"}))
    frames = [frame(0.1 * i, det(0.5, 0.5, "car"), seq=i) for i in range(21)]
    summary = summary_of(frames, (people_only,))
    assert summary.class_name == "car"
    assert summary.seconds_in_zone == {"middle": pytest.approx(2.0, abs=1e-6)}


def test_a_camera_without_zones_reports_none() -> None:
    frames = [frame(0.1 * i, det(0.5, 0.5), seq=i) for i in range(21)]
    assert summary_of(frames, ()).seconds_in_zone == {}


def test_resumed_tracker_with_zones_gives_identical_outputs() -> None:
    frames = random_scene(5)
    zones = (MIDDLE, square("left", 0.0, 0.0, 0.35, 1.0), square("low", 0.0, 0.55, 1.0, 1.0))
    original = CameraTracker(CAMERA, TrackerParams(), zones)
    outputs, snapshots = [], {}
    for i, f in enumerate(frames):
        outputs.append(original.update(f))
        if i in (10, 45, 90):
            snapshots[i] = json.dumps(original.snapshot(), allow_nan=False)
    ended = [s for out in outputs for s in out.ended]
    assert any(s.seconds_in_zone for s in ended), "the scene must put tracks in zones"
    for k, wire in snapshots.items():
        resumed = CameraTracker.restore(json.loads(wire), TrackerParams(), zones)
        assert [resumed.update(f) for f in frames[k + 1 :]] == outputs[k + 1 :]


def test_a_track_restored_without_zone_time_counts_from_its_next_observation() -> None:
    frames = [frame(0.1 * i, det(0.5, 0.5), seq=i) for i in range(41)]
    tracker = CameraTracker(CAMERA, PARAMS, ZONES)
    for f in frames[:11]:
        tracker.update(f)
    snapshot = tracker.snapshot()
    for track in snapshot["tracks"]:
        del track["zone_time"]
    resumed = CameraTracker.restore(snapshot, PARAMS, ZONES)
    for f in frames[11:]:
        resumed.update(f)
    (summary,) = resumed.flush()
    assert summary.seconds_in_zone == {"middle": pytest.approx(4.0 - 1.1, abs=1e-6)}
