"""Crowd movement: the crowd's mean speed (rush) or spread (dispersal) over a short window
against the zone's rolling baseline, once that baseline has seen ``baseline_s / 2`` of data.

The maths are driven on ``CrowdWatch`` directly, with members whose velocity is given, at 8 fps
(frame times exact in binary); the analyser tests walk people in circles inside a zone.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.crowd import CrowdWatch, Member
from vigie_core.rules import CrowdSpec
from vigie_core.types import Event, EventKind, FrameRef, Track

from .scenes import CAMERA, INSIDE, T0, Clip, analyser, box_on, jittered, offset, run, track, zone

DT = 0.125
CENTRE = (0.5, 0.6)
# Five people evenly around the crowd's centre.
DIRECTIONS = [(math.cos(2 * math.pi * i / 5), math.sin(2 * math.pi * i / 5)) for i in range(5)]


def crowd(
    speed: float, spread: float = 0.05, radial: float = 0.0, n: int = 5, measured: int = 5
) -> list[Member]:
    """``n`` people at ``spread`` from the centre, walking right at ``speed`` and outwards at
    ``radial``; only the first ``measured`` have a velocity yet."""
    return [
        Member(
            f"p{i}",
            (CENTRE[0] + spread * dx, CENTRE[1] + spread * dy),
            (speed + radial * dx, radial * dy) if i < measured else None,
        )
        for i, (dx, dy) in enumerate(DIRECTIONS[:n])
    ]


def feed(
    members: Callable[[float], Sequence[Member]], until_s: float, spec: CrowdSpec | None = None
) -> list[tuple[float, Event]]:
    watch = CrowdWatch("square", spec or CrowdSpec(), None)
    raised = []
    for k in range(round(until_s / DT)):
        t = k * DT
        for event in watch.update(FrameRef(CAMERA, k, T0 + t, 768, 432), members(t), "16x9:"):
            raised.append((t, event))
    return raised


def walking_then(
    factor: float, at_s: float = 40.0, base: float = 0.03
) -> Callable[[float], list[Member]]:
    """The crowd walking at ``base``, then ``factor`` times faster from ``at_s``."""
    return lambda t: crowd(base * factor if t >= at_s else base)


def test_a_rush_is_raised_with_its_explanation() -> None:
    raised = feed(walking_then(4.0), 60.0)
    assert len(raised) == 1
    t, event = raised[0]
    # The 2 s window average of 0.12 passes 2.5x the baseline 1.4 s in; the baseline stopped
    # learning once the window was half way to a rush, so it stays near 0.03.
    assert t == 41.375
    assert event.kind is EventKind.CROWD_MOVEMENT
    assert (event.zone, event.class_name) == ("square", "person")
    assert event.track_ids == ("p0", "p1", "p2", "p3", "p4")
    assert event.frame == FrameRef(CAMERA, 331, T0 + 41.375, 768, 432)
    assert event.details == {
        "change": "rush",
        "measured": "0.077",
        "baseline": "0.031",
        "ratio": "2.520",
        "factor": "2.500",
        "people": "5",
        "window_s": "2.000",
        "baseline_s": "60.000",
    }


def test_speeds_jumping_three_fold_is_a_rush() -> None:
    raised = feed(walking_then(3.0), 80.0)
    assert [(t, event.details["change"]) for t, event in raised] == [(43.125, "rush")]


def test_steady_walking_is_not_a_rush() -> None:
    assert feed(walking_then(1.0), 90.0) == []


def test_no_event_before_half_the_baseline_of_data() -> None:
    # A six-fold rush from 25 s: the baseline is still warming up until it has seen 30 s.
    raised = feed(walking_then(6.0, at_s=25.0), 40.0)
    assert [(t, event.details["change"]) for t, event in raised] == [(30.125, "rush")]


def test_warm_up_counts_only_frames_with_a_crowd() -> None:
    # 20 s of crowd, 20 s of only three people, then a rush: 20 s of data is not enough yet.
    def members(t: float) -> list[Member]:
        if 20.0 <= t < 40.0:
            return crowd(0.03, n=3)
        return crowd(0.12 if t >= 40.0 else 0.03)

    raised = feed(members, 60.0)
    assert [t for t, _ in raised] == [50.125]


def test_a_crowd_below_min_people_is_ignored() -> None:
    # Three people rushing ten-fold: not a crowd.
    assert feed(lambda t: crowd(0.3 if t >= 40 else 0.03, n=3), 60.0) == []
    # Five people, but only three with a measured speed.
    assert feed(lambda t: crowd(0.3 if t >= 40 else 0.03, measured=3), 60.0) == []
    # Four people with speeds: a crowd by the default min_people.
    raised = feed(lambda t: crowd(0.3 if t >= 40 else 0.03, n=4), 60.0)
    assert [(e.details["change"], e.details["people"]) for _, e in raised] == [("rush", "4")]


def test_a_dispersal_is_raised_when_the_spread_grows() -> None:
    def members(t: float) -> list[Member]:
        if t < 40.0:
            return crowd(0.03)
        # Everyone walks straight away from the centre at 0.04/s: not fast enough to be a rush.
        return crowd(0.0, spread=0.05 + 0.04 * (t - 40.0), radial=0.04)

    raised = feed(members, 60.0)
    assert [(t, e.details) for t, e in raised] == [
        (
            42.0,
            {
                "change": "dispersal",
                "measured": "0.081",
                "baseline": "0.051",
                "ratio": "1.602",
                "factor": "1.600",
                "people": "5",
                "window_s": "2.000",
                "baseline_s": "60.000",
            },
        )
    ]


def test_one_event_while_it_holds_then_re_armed_after_clear_s() -> None:
    # Rush 40-100 s, normal 100-120 s, rush again from 120 s.
    def members(t: float) -> list[Member]:
        return crowd(0.12 if 40.0 <= t < 100.0 or t >= 120.0 else 0.03)

    raised = feed(members, 130.0)
    # The baseline did not learn the minute-long rush: the second one is raised as well.
    assert [(t, e.details["baseline"]) for t, e in raised] == [
        (41.375, "0.031"),
        (121.5, "0.031"),
    ]


def test_not_re_armed_before_clear_s() -> None:
    # Rush 40-60 s, normal for 6 s only (the window average needs ~1 s to drop), rush again.
    def members(t: float) -> list[Member]:
        return crowd(0.12 if 40.0 <= t < 60.0 or t >= 66.0 else 0.03)

    assert [t for t, _ in feed(members, 90.0)] == [41.375]


def test_movement_can_be_switched_off() -> None:
    assert feed(walking_then(6.0), 60.0, CrowdSpec(movement=False)) == []


# --- through the analyser -----------------------------------------------------------------------

CIRCLE_R = 0.05
CENTRES = [(0.3, 0.6), (0.4, 0.75), (0.5, 0.6), (0.6, 0.75), (0.7, 0.6)]


def circling(
    rush_at_s: float, omega: float = 0.4, factor: float = 5.0
) -> Callable[[float], list[Track]]:
    """Five people walking small circles (0.02/s), five times faster from ``rush_at_s``."""

    def angle(t: float) -> float:
        if t < rush_at_s:
            return omega * t
        return omega * rush_at_s + omega * factor * (t - rush_at_s)

    def tracks(t: float) -> list[Track]:
        a = angle(t)
        return [
            track(f"p{i}", (cx + CIRCLE_R * math.cos(a), cy + CIRCLE_R * math.sin(a)))
            for i, (cx, cy) in enumerate(CENTRES)
        ]

    return tracks


def watched(**spec: object) -> SceneAnalyzer:
    return analyser(zone(crowd=CrowdSpec(**spec)))  # type: ignore[arg-type]


def test_a_crowd_breaking_into_a_run_is_raised_by_the_analyser() -> None:
    clip = Clip().span(0, 45, circling(rush_at_s=35.0))
    events = run(watched(), clip)
    assert [(e.kind, e.zone, e.details["change"], e.details["people"]) for e in events] == [
        (EventKind.CROWD_MOVEMENT, "floor", "rush", "5")
    ]
    event = events[0]
    assert event.track_ids == ("p0", "p1", "p2", "p3", "p4")
    assert offset(event) == 36.8  # 1.8 s after the run starts (10 fps)
    assert event.frame == clip.at(36.8)
    assert float(event.details["ratio"]) >= 2.5


def test_no_rush_before_warm_up_through_the_analyser() -> None:
    assert run(watched(), Clip().span(0, 25, circling(rush_at_s=10.0))) == []


def test_a_jittering_crowd_standing_still_is_not_moving() -> None:
    rng = random.Random(13)
    spots = [(INSIDE[0] + 0.05 * i - 0.15, INSIDE[1]) for i in range(7)]
    clip = Clip().span(
        0, 120, lambda t: [track(f"p{i}", jittered(box_on(s), rng)) for i, s in enumerate(spots)]
    )
    assert run(watched(), clip) == []
