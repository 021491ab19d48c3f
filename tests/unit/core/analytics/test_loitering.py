"""Loitering: staying in a zone longer than ``max_dwell_s``, one event per stay."""

from __future__ import annotations

import random

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.rules.loitering import LoiteringSpec
from vigie_core.ids import millis, stable_id
from vigie_core.types import EventKind

from .scenes import (
    CAMERA,
    FLOOR,
    INSIDE,
    LOST,
    OUTSIDE,
    T0,
    Clip,
    analyser,
    box_on,
    jittered,
    offset,
    run,
    scene,
    still,
    track,
    zone,
)


def watched(max_dwell_s: float = 60.0, **spec: object) -> SceneAnalyzer:
    return analyser(zone(loitering=LoiteringSpec(max_dwell_s, **spec)))  # type: ignore[arg-type]


def test_raised_when_the_dwell_reaches_max_dwell_with_its_explanation() -> None:
    clip = Clip().span(0, 1, still("p1", OUTSIDE)).span(1, 90, still("p1"))
    events = run(watched(60.0), clip)
    assert len(events) == 1
    event = events[0]
    assert event.kind is EventKind.LOITERING
    assert event.zone == "floor"
    assert event.class_name == "person"
    assert event.track_ids == ("p1",)
    assert event.frame == clip.at(61.0)  # entered at 1.0
    assert event.details == {"dwell_s": "60.000", "max_dwell_s": "60.000"}


def test_no_event_when_leaving_before_max_dwell() -> None:
    clip = Clip().span(0, 59.9, still("p1")).span(59.9, 120, still("p1", OUTSIDE))
    assert run(watched(60.0), clip) == []


def test_at_most_one_event_per_stay() -> None:
    clip = Clip().span(0, 300, still("p1"))
    events = run(watched(20.0), clip)
    assert [offset(e) for e in events] == [20.0]


def test_leaving_and_re_entering_is_a_new_stay_that_raises_again() -> None:
    clip = (
        Clip().span(0, 30, still("p1")).span(30, 32, still("p1", OUTSIDE)).span(32, 60, still("p1"))
    )
    events = run(watched(20.0), clip)
    assert [offset(e) for e in events] == [20.0, 52.0]
    assert [e.details["dwell_s"] for e in events] == ["20.000", "20.000"]
    assert events[0].event_id != events[1].event_id


def test_re_entering_restarts_the_clock() -> None:
    # 15 s in, 2 s out (longer than the exit grace), 15 s in: never 20 s in one stay.
    clip = (
        Clip().span(0, 15, still("p1")).span(15, 17, still("p1", OUTSIDE)).span(17, 32, still("p1"))
    )
    assert run(watched(20.0), clip) == []


def test_a_lost_track_stays_in_its_stay_whatever_its_prediction() -> None:
    clip = (
        Clip()
        .span(0, 10, still("p1"))
        # Hidden for 8 s; the tracker's prediction drifts out of the zone.
        .span(10, 18, still("p1", OUTSIDE, state=LOST))
        .span(18, 30, still("p1"))
    )
    events = run(watched(20.0), clip)
    assert [(offset(e), e.details["dwell_s"]) for e in events] == [(20.0, "20.000")]


def test_the_event_waits_for_an_observed_frame() -> None:
    clip = (
        Clip()
        .span(0, 18, still("p1"))
        .span(18, 25, still("p1", state=LOST))
        .span(25, 30, still("p1"))
    )
    events = run(watched(20.0), clip)
    assert [(offset(e), e.details["dwell_s"]) for e in events] == [(25.0, "25.000")]
    assert events[0].frame == clip.at(25.0)


def test_irregular_frame_intervals_use_capture_times() -> None:
    clip = Clip()
    for t in (0.0, 0.05, 0.4, 3.0, 17.5, 42.25, 59.9, 60.35, 61.0, 75.0):
        clip.add(t, track("p1", INSIDE))
    events = run(watched(60.0), clip)
    assert [(offset(e), e.details["dwell_s"]) for e in events] == [(60.35, "60.350")]


def test_dropped_frames_raise_on_the_first_frame_after_the_gap() -> None:
    # 10 fps, but nothing arrives between 30 s and 70 s.
    clip = Clip().span(0, 30, still("p1")).span(70, 80, still("p1"))
    events = run(watched(60.0), clip)
    assert [(offset(e), e.details["dwell_s"]) for e in events] == [(70.0, "70.000")]


def test_only_the_listed_classes_loiter() -> None:
    both = lambda t: [track("c1", INSIDE, cls="car"), track("p1", (0.6, 0.8))]  # noqa: E731
    people = run(watched(10.0), Clip().span(0, 20, both))
    assert [e.track_ids for e in people] == [("p1",)]
    cars = run(watched(10.0, classes=frozenset({"car"})), Clip().span(0, 20, both))
    assert [(e.track_ids, e.class_name) for e in cars] == [(("c1",), "car")]


def test_each_zone_has_its_own_stay() -> None:
    inner = FLOOR.of([(0.4, 0.6), (0.6, 0.6), (0.6, 0.9), (0.4, 0.9)])
    analyzer = SceneAnalyzer(
        scene(
            zone("hall", loitering=LoiteringSpec(30.0)),
            zone("desk", inner, loitering=LoiteringSpec(10.0)),
        )
    )
    events = run(analyzer, Clip().span(0, 40, still("p1")))
    assert [(e.zone, offset(e)) for e in events] == [("desk", 10.0), ("hall", 30.0)]


def test_each_track_has_its_own_stay() -> None:
    both = lambda t: [track("p1", INSIDE), track("p2", (0.6, 0.8))]  # noqa: E731
    clip = Clip().span(0, 5, still("p1")).span(5, 30, both)
    events = run(watched(20.0), clip)
    assert [(e.track_ids, offset(e)) for e in events] == [(("p1",), 20.0), (("p2",), 25.0)]


def test_a_jittering_box_inside_keeps_the_stay() -> None:
    rng = random.Random(7)
    clip = Clip().span(0, 30, lambda t: [track("p1", jittered(box_on(INSIDE), rng))])
    events = run(watched(20.0), clip)
    assert [offset(e) for e in events] == [20.0]


def test_a_track_that_ended_comes_back_with_a_fresh_stay() -> None:
    clip = Clip().span(0, 15, still("p1"))
    clip.add(15.0, ended=["p1"])
    clip.span(16, 40, still("p1"))
    events = run(watched(20.0), clip)
    assert [(offset(e), e.details["dwell_s"]) for e in events] == [(36.0, "20.000")]


def test_replay_through_a_fresh_analyser_gives_identical_events() -> None:
    clip = (
        Clip()
        .span(0, 25, lambda t: [track("p1", INSIDE), track("p2", (0.3 + 0.01 * t, 0.7))])
        .span(25, 27, still("p1", OUTSIDE))
        .span(27, 50, still("p1"))
    )
    first, second = run(watched(20.0), clip), run(watched(20.0), clip)
    assert [(e.track_ids, offset(e)) for e in first] == [
        (("p1",), 20.0),
        (("p2",), 20.0),
        (("p1",), 47.0),
    ]
    assert first == second
    assert first[0].event_id == stable_id(
        CAMERA, EventKind.LOITERING, "floor", "p1", millis(T0 + 20.0)
    )


def test_a_step_outside_shorter_than_the_exit_grace_keeps_the_stay() -> None:
    # Edge jitter: 0.6 s seen outside, then back. One stay of 40 s: one event, at 20 s.
    clip = (
        Clip()
        .span(0, 10, still("p1"))
        .span(10, 10.6, still("p1", OUTSIDE))
        .span(10.6, 40, still("p1"))
    )
    events = run(watched(20.0), clip)
    assert [(offset(e), e.details["dwell_s"]) for e in events] == [(20.0, "20.000")]


def test_jitter_across_the_edge_on_every_other_frame_is_one_stay() -> None:
    flicker = lambda t: [track("p1", OUTSIDE if int(t * 10) % 2 else INSIDE)]  # noqa: E731
    events = run(watched(20.0), Clip().span(0, 60, flicker))
    assert [offset(e) for e in events] == [20.0]


def test_an_exit_grace_of_zero_ends_the_stay_on_the_first_frame_outside() -> None:
    clip = (
        Clip()
        .span(0, 15, still("p1"))
        .span(15, 15.2, still("p1", OUTSIDE))
        .span(15.2, 40, still("p1"))
    )
    events = run(analyser(zone(exit_grace_s=0.0, loitering=LoiteringSpec(20.0))), clip)
    assert [offset(e) for e in events] == [35.2]
