"""Unit tests of the scene rules (zone intrusion, line crossing) over hand-written tracks.

Tracks are built directly, not by the tracker, so that each test controls exactly where the
anchor (the box's bottom-centre) is and in which state, frame by frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from vigie_core.analytics import SceneAnalyzer
from vigie_core.geometry import Line, Polygon
from vigie_core.ids import millis, stable_id
from vigie_core.scene import CountDirection, LineSpec, SceneSpec, ZoneSpec
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
T0 = 1_700_000_000.0
DT = 0.1  # 10 frames per second

OBSERVED = TrackState.TRACKED
LOST = TrackState.LOST

# A floor zone in the lower middle of the frame.
ZONE_POLY = Polygon.of([(0.4, 0.6), (0.7, 0.6), (0.7, 0.9), (0.4, 0.9)])
INSIDE = (0.55, 0.75)
OUTSIDE = (0.2, 0.75)

# A horizontal counting line drawn left to right: forward is moving up the image.
DOOR = Line((0.2, 0.5), (0.8, 0.5))
BELOW = (0.5, 0.6)
ABOVE = (0.5, 0.4)


# --- builders -----------------------------------------------------------------------------------


def track(
    track_id: str,
    anchor: tuple[float, float],
    state: TrackState = OBSERVED,
    cls: str = "person",
) -> Track:
    """A track whose box stands on ``anchor`` (its bottom-centre)."""
    x, y = anchor
    box = Box(x - 0.05, y - 0.2, x + 0.05, y)
    return Track(track_id=track_id, class_name=cls, box=box, confidence=0.9, state=state)


def frame(
    seq: int, *tracks: Track, ended: Sequence[str] = (), t: float | None = None
) -> FrameTracks:
    captured_at = T0 + seq * DT if t is None else t
    summaries = tuple(
        TrackSummary(
            track_id=tid,
            camera_id=CAMERA,
            class_name="person",
            first_seen=T0,
            last_seen=captured_at,
            hits=1,
        )
        for tid in ended
    )
    return FrameTracks(
        frame=FrameRef(CAMERA, seq, captured_at, 768, 432), tracks=tracks, ended=summaries
    )


def zone_scene(
    min_dwell_s: float = 0.5, classes: Iterable[str] = ("person",), name: str = "table"
) -> SceneSpec:
    zone = ZoneSpec(name, ZONE_POLY, frozenset(classes), min_dwell_s)
    return SceneSpec(CAMERA, zones=(zone,))


def line_scene(
    direction: CountDirection = CountDirection.BOTH,
    hysteresis: float = 0.02,
    classes: Iterable[str] = (),
) -> SceneSpec:
    line = LineSpec("door", DOOR, frozenset(classes), direction, hysteresis)
    return SceneSpec(CAMERA, lines=(line,))


def run(analyzer: SceneAnalyzer, frames: Iterable[FrameTracks]) -> list[tuple[int, Event]]:
    """(sequence, event) for every event raised, in order."""
    return [(f.frame.sequence, e) for f in frames for e in analyzer.update(f)]


def path(
    track_id: str, anchors: Sequence[tuple[float, float]], start: int = 0
) -> list[FrameTracks]:
    """One observed track moving through ``anchors``, one frame each."""
    return [frame(start + i, track(track_id, a)) for i, a in enumerate(anchors)]


def vertical_walk(x: float, y_from: float, y_to: float, steps: int) -> list[tuple[float, float]]:
    return [(x, y_from + (y_to - y_from) * i / (steps - 1)) for i in range(steps)]


# --- zone intrusion -----------------------------------------------------------------------------


def test_intrusion_is_raised_once_the_dwell_is_reached() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.5))
    events = run(analyzer, path("p1", [OUTSIDE] + [INSIDE] * 10))
    assert len(events) == 1
    seq, event = events[0]
    assert seq == 6  # entered on frame 1, 0.5 s later is frame 6
    assert event.kind is EventKind.ZONE_INTRUSION
    assert event.zone == "table"
    assert event.class_name == "person"
    assert event.track_ids == ("p1",)
    assert event.frame.sequence == 6
    assert event.camera_id == CAMERA
    assert event.details == {
        "dwell_s": "0.500",
        "min_dwell_s": "0.500",
        "anchor_x": "0.550",
        "anchor_y": "0.750",
    }


def test_no_intrusion_before_the_dwell() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=1.0))
    # In for 0.9 s, out for longer than the exit grace, back in for 0.9 s.
    frames = path("p1", [INSIDE] * 10 + [OUTSIDE] * 12 + [INSIDE] * 10)
    assert run(analyzer, frames) == []


def test_zero_dwell_raises_on_the_first_frame_inside() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.0))
    events = run(analyzer, path("p1", [OUTSIDE, OUTSIDE, INSIDE, INSIDE]))
    assert [seq for seq, _ in events] == [2]
    assert events[0][1].details["dwell_s"] == "0.000"


def test_dwell_is_measured_with_frame_times_not_frame_counts() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=2.0))
    # Three frames, two seconds apart in capture time.
    frames = [frame(i, track("p1", INSIDE), t=T0 + 2.0 * i) for i in range(3)]
    events = run(analyzer, frames)
    assert [seq for seq, _ in events] == [1]
    assert events[0][1].details["dwell_s"] == "2.000"


def test_only_allowed_classes_intrude() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.0, classes=("person",)))
    frames = [frame(0, track("c1", INSIDE, cls="car"), track("p1", INSIDE, cls="person"))]
    events = run(analyzer, frames)
    assert [e.track_ids for _, e in events] == [("p1",)]


def test_a_zone_without_classes_applies_to_every_class() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.0, classes=()))
    frames = [frame(0, track("c1", INSIDE, cls="car"), track("d1", INSIDE, cls="dog"))]
    assert [e.class_name for _, e in run(analyzer, frames)] == ["car", "dog"]


def test_one_event_per_stay_however_long() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.2))
    assert len(run(analyzer, path("p1", [INSIDE] * 200))) == 1


def test_leaving_and_coming_back_raises_again() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.2))
    frames = path("p1", [INSIDE] * 5 + [OUTSIDE] * 12 + [INSIDE] * 5)
    events = run(analyzer, frames)
    assert [seq for seq, _ in events] == [2, 19]
    assert events[0][1].event_id != events[1][1].event_id


def test_each_track_has_its_own_stay() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.2))
    frames = [frame(i, track("p1", INSIDE), track("p2", INSIDE)) for i in range(5)]
    events = run(analyzer, frames)
    assert sorted(e.track_ids[0] for _, e in events) == ["p1", "p2"]


def test_a_lost_prediction_outside_does_not_end_the_stay() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.2))
    frames = [frame(i, track("p1", INSIDE)) for i in range(4)]
    frames += [frame(i, track("p1", OUTSIDE, LOST)) for i in range(4, 7)]
    frames += [frame(i, track("p1", INSIDE)) for i in range(7, 12)]
    assert [seq for seq, _ in run(analyzer, frames)] == [2]


def test_a_lost_prediction_inside_neither_enters_nor_raises() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.0))
    frames = [frame(0, track("p1", OUTSIDE))]
    frames += [frame(i, track("p1", INSIDE, LOST)) for i in range(1, 10)]
    frames += [frame(10, track("p1", OUTSIDE))]
    assert run(analyzer, frames) == []


def test_dwell_runs_on_while_lost_but_the_event_waits_for_an_observed_frame() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.5))
    frames = [frame(0, track("p1", INSIDE))]
    frames += [frame(i, track("p1", INSIDE, LOST)) for i in range(1, 9)]
    frames += [frame(9, track("p1", INSIDE))]
    events = run(analyzer, frames)
    assert [seq for seq, _ in events] == [9]
    assert events[0][1].details["dwell_s"] == "0.900"


def test_a_new_track_counts_as_observed() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.0))
    events = run(analyzer, [frame(0, track("p1", INSIDE, TrackState.NEW))])
    assert len(events) == 1


# --- line crossing ------------------------------------------------------------------------------


def test_crossing_up_a_left_to_right_line_is_forward() -> None:
    analyzer = SceneAnalyzer(line_scene())
    events = run(analyzer, path("p1", vertical_walk(0.5, 0.7, 0.3, 9)))
    assert len(events) == 1
    seq, event = events[0]
    assert event.kind is EventKind.LINE_CROSSING
    assert event.zone == "door"
    assert event.track_ids == ("p1",)
    assert event.class_name == "person"
    assert event.frame.sequence == seq
    assert event.details == {"direction": "forward", "count_forward": "1", "count_backward": "0"}
    assert analyzer.counts() == {"door": (1, 0)}


def test_crossing_down_is_backward() -> None:
    analyzer = SceneAnalyzer(line_scene())
    events = run(analyzer, path("p1", vertical_walk(0.5, 0.3, 0.7, 9)))
    assert [e.details["direction"] for _, e in events] == ["backward"]
    assert analyzer.counts() == {"door": (0, 1)}


def test_the_crossing_is_raised_once_the_anchor_is_past_the_hysteresis() -> None:
    analyzer = SceneAnalyzer(line_scene(hysteresis=0.05))
    anchors = [(0.5, 0.6), (0.5, 0.52), (0.5, 0.48), (0.5, 0.46), (0.5, 0.44)]
    events = run(analyzer, path("p1", anchors))
    assert [seq for seq, _ in events] == [4]  # 0.06 above the line; 0.04 was not enough


def test_running_counts_over_several_tracks_and_both_directions() -> None:
    analyzer = SceneAnalyzer(line_scene())
    frames = path("p1", [BELOW, ABOVE, BELOW, ABOVE])  # forward, backward, forward
    frames += path("p2", [ABOVE, BELOW], start=4)  # backward
    events = run(analyzer, frames)
    assert [
        (e.details["direction"], e.details["count_forward"], e.details["count_backward"])
        for _, e in events
    ] == [
        ("forward", "1", "0"),
        ("backward", "1", "1"),
        ("forward", "2", "1"),
        ("backward", "2", "2"),
    ]
    assert analyzer.counts() == {"door": (2, 2)}


def test_jitter_on_the_line_is_not_counted() -> None:
    analyzer = SceneAnalyzer(line_scene(hysteresis=0.02))
    # Someone standing on the line, anchor wobbling 0.015 either side of it.
    anchors = [BELOW] + [(0.5, 0.5 + (0.015 if i % 2 else -0.015)) for i in range(40)] + [BELOW]
    assert run(analyzer, path("p1", anchors)) == []
    assert analyzer.counts() == {"door": (0, 0)}


def test_wandering_onto_the_line_and_back_is_not_counted() -> None:
    analyzer = SceneAnalyzer(line_scene(hysteresis=0.02))
    anchors = [BELOW, (0.5, 0.49), (0.5, 0.505), (0.5, 0.6)]
    assert run(analyzer, path("p1", anchors)) == []


def test_a_slow_crossing_through_the_band_is_counted_once() -> None:
    analyzer = SceneAnalyzer(line_scene(hysteresis=0.02))
    anchors = [BELOW, (0.5, 0.51), (0.5, 0.49), (0.5, 0.51), (0.5, 0.49), ABOVE, ABOVE]
    events = run(analyzer, path("p1", anchors))
    assert [e.details["direction"] for _, e in events] == ["forward"]


def test_walking_around_the_end_of_the_line_is_not_counted() -> None:
    analyzer = SceneAnalyzer(line_scene())
    # Up the image at x = 0.9, beyond b = (0.8, 0.5): crosses the infinite line only.
    assert run(analyzer, path("p1", vertical_walk(0.9, 0.7, 0.3, 9))) == []
    assert analyzer.counts() == {"door": (0, 0)}


def test_a_crossing_while_lost_is_counted_when_the_track_reappears() -> None:
    analyzer = SceneAnalyzer(line_scene())
    frames = [frame(0, track("p1", BELOW))]
    frames += [frame(i, track("p1", (0.95, 0.3 + 0.1 * i), LOST)) for i in range(1, 4)]
    frames += [frame(4, track("p1", ABOVE))]
    events = run(analyzer, frames)
    assert [(seq, e.details["direction"]) for seq, e in events] == [(4, "forward")]


def test_lost_predictions_do_not_cross() -> None:
    analyzer = SceneAnalyzer(line_scene())
    frames = [frame(0, track("p1", BELOW))]
    frames += [frame(i, track("p1", ABOVE, LOST)) for i in range(1, 5)]
    frames += [frame(5, track("p1", BELOW))]
    assert run(analyzer, frames) == []


def test_a_forward_line_neither_raises_nor_counts_backward_crossings() -> None:
    analyzer = SceneAnalyzer(line_scene(direction=CountDirection.FORWARD))
    events = run(analyzer, path("p1", [ABOVE, BELOW, ABOVE, BELOW, ABOVE]))
    assert [e.details["direction"] for _, e in events] == ["forward", "forward"]
    assert [e.details["count_forward"] for _, e in events] == ["1", "2"]
    assert analyzer.counts() == {"door": (2, 0)}


def test_a_backward_line_only_raises_backward_crossings() -> None:
    analyzer = SceneAnalyzer(line_scene(direction=CountDirection.BACKWARD))
    events = run(analyzer, path("p1", [BELOW, ABOVE, BELOW]))
    assert [e.details["direction"] for _, e in events] == ["backward"]
    assert analyzer.counts() == {"door": (0, 1)}


def test_line_class_filter() -> None:
    analyzer = SceneAnalyzer(line_scene(classes=("car",)))
    frames = [
        frame(0, track("p1", BELOW), track("c1", BELOW, cls="car")),
        frame(1, track("p1", ABOVE), track("c1", ABOVE, cls="car")),
    ]
    events = run(analyzer, frames)
    assert [e.track_ids for _, e in events] == [("c1",)]


def test_counts_list_every_line_from_the_start() -> None:
    scene = SceneSpec(
        CAMERA,
        lines=(
            LineSpec("door", DOOR),
            LineSpec("gate", Line((0.1, 0.1), (0.1, 0.9))),
        ),
    )
    assert SceneAnalyzer(scene).counts() == {"door": (0, 0), "gate": (0, 0)}


# --- both rules, ids, memory --------------------------------------------------------------------


def both_scene() -> SceneSpec:
    zone = ZoneSpec("table", ZONE_POLY, frozenset(), 0.3)
    line = LineSpec("door", DOOR, frozenset(), CountDirection.BOTH, 0.02)
    return SceneSpec(CAMERA, zones=(zone,), lines=(line,))


def walk_in_and_stay() -> list[FrameTracks]:
    """Crosses the door downwards into the zone and stays there."""
    return path("p1", [ABOVE, BELOW] + [INSIDE] * 6)


def test_event_ids_are_deterministic() -> None:
    first = [e for _, e in run(SceneAnalyzer(both_scene()), walk_in_and_stay())]
    second = [e for _, e in run(SceneAnalyzer(both_scene()), walk_in_and_stay())]
    assert [e.kind for e in first] == [EventKind.LINE_CROSSING, EventKind.ZONE_INTRUSION]
    assert [e.event_id for e in first] == [e.event_id for e in second]
    for event in first:
        assert event.event_id == stable_id(
            CAMERA, event.kind, event.zone, "p1", millis(event.frame.captured_at)
        )


def test_state_of_ended_tracks_is_dropped() -> None:
    analyzer = SceneAnalyzer(zone_scene(min_dwell_s=0.2))
    run(analyzer, path("p1", [INSIDE] * 5))
    assert analyzer.tracked_count() == 1
    analyzer.update(frame(5, ended=["p1"]))
    assert analyzer.tracked_count() == 0
    # A track that comes back under the same id starts a fresh stay.
    events = run(analyzer, path("p1", [INSIDE] * 3, start=6))
    assert [seq for seq, _ in events] == [8]


def test_state_of_tracks_absent_for_long_is_dropped() -> None:
    analyzer = SceneAnalyzer(zone_scene(), forget_after_s=5.0)
    analyzer.update(frame(0, track("p1", INSIDE)))
    analyzer.update(frame(1, track("p2", INSIDE), t=T0 + 4.0))
    assert analyzer.tracked_count() == 2
    analyzer.update(frame(2, track("p2", INSIDE), t=T0 + 6.0))
    assert analyzer.tracked_count() == 1


def test_memory_stays_bounded_over_many_tracks() -> None:
    analyzer = SceneAnalyzer(both_scene())
    for i in range(500):
        tid = f"p{i}"
        analyzer.update(frame(2 * i, track(tid, INSIDE)))
        analyzer.update(frame(2 * i + 1, ended=[tid]))
    assert analyzer.tracked_count() == 0


def test_a_frame_of_another_camera_is_refused() -> None:
    analyzer = SceneAnalyzer(zone_scene())
    other = FrameTracks(frame=FrameRef("cam-2", 0, T0))
    with pytest.raises(ValueError, match="cam-2"):
        analyzer.update(other)


def test_forget_after_must_be_positive() -> None:
    with pytest.raises(ValueError, match="forget_after_s"):
        SceneAnalyzer(zone_scene(), forget_after_s=0.0)


# --- scene validation ---------------------------------------------------------------------------


def test_names_must_be_unique_across_zones_and_lines() -> None:
    zone = ZoneSpec("door", ZONE_POLY)
    with pytest.raises(ValueError, match="more than once"):
        SceneSpec(CAMERA, zones=(zone,), lines=(LineSpec("door", DOOR),))
    with pytest.raises(ValueError, match="more than once"):
        SceneSpec(CAMERA, zones=(zone, ZoneSpec("door", ZONE_POLY)))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ZoneSpec("z", ZONE_POLY, min_dwell_s=-1.0), "min_dwell_s"),
        (lambda: ZoneSpec("", ZONE_POLY), "non-empty"),
        (lambda: ZoneSpec("z", ZONE_POLY, classes="person"), "not the string"),  # type: ignore[arg-type]
        (lambda: LineSpec("l", DOOR, hysteresis=-0.01), "hysteresis"),
        (lambda: LineSpec("l", DOOR, hysteresis=0.5), "hysteresis"),
        (lambda: LineSpec("l", DOOR, count_direction="sideways"), "sideways"),  # type: ignore[arg-type]
    ],
)
def test_invalid_specs_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]
