"""Wrong way: moving against a zone's allowed direction, fast enough, for long enough.

The zone allows moving up the image (direction (0, -1)); speeds are measured over about one
second of observed anchors, and not before half a second of them.
"""

from __future__ import annotations

import math
import random

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.motion import Motion
from vigie_core.analytics.rules.wrong_way import WrongWaySpec
from vigie_core.geometry import Point, Polygon
from vigie_core.types import EventKind

from .scenes import (
    INSIDE,
    LOST,
    Clip,
    PathFn,
    along,
    analyser,
    box_on,
    jittered,
    moving,
    offset,
    run,
    track,
    zone,
)

UP = (0.0, -1.0)


def watched(**spec: object) -> SceneAnalyzer:
    spec.setdefault("direction", UP)
    return analyser(zone(wrong_way=WrongWaySpec(**spec)))  # type: ignore[arg-type]


def heading(
    angle_deg: float, speed: float, start: Point = (0.5, 0.45), t_end: float = 10.0
) -> PathFn:
    """A straight walk ``angle_deg`` away from the allowed way (0: up the image, 180: down)."""
    a = math.radians(angle_deg)
    vx, vy = speed * math.sin(a), -speed * math.cos(a)
    x0, y0 = start
    return along((0.0, start), (t_end, (x0 + vx * t_end, y0 + vy * t_end)))


def test_walking_down_a_one_way_up_zone_is_wrong_way_with_its_explanation() -> None:
    clip = Clip().span(0, 8, moving("p1", heading(180.0, 0.05)))
    events = run(watched(), clip)
    assert len(events) == 1
    event = events[0]
    assert event.kind is EventKind.WRONG_WAY
    assert (event.zone, event.class_name, event.track_ids) == ("floor", "person", ("p1",))
    # Speed measurable from 0.5 s of history; against from then on; 1 s later it fires.
    assert event.frame == clip.at(1.5)
    assert event.details == {
        "angle_deg": "180.000",
        "max_angle_deg": "135.000",
        "speed": "0.050",
        "min_speed": "0.030",
        "duration_s": "1.000",
        "expected_dx": "0.000",
        "expected_dy": "-1.000",
    }


def test_the_direction_is_normalised_in_the_explanation() -> None:
    clip = Clip().span(0, 8, moving("p1", heading(180.0, 0.05)))
    events = run(watched(direction=(0.0, -4.0)), clip)
    assert [(e.details["expected_dx"], e.details["expected_dy"]) for e in events] == [
        ("0.000", "-1.000")
    ]


def test_the_allowed_way_and_sideways_are_not_wrong_way() -> None:
    for angle in (0.0, 90.0, 270.0):
        clip = Clip().span(0, 8, moving("p1", heading(angle, 0.05)))
        assert run(watched(), clip) == [], angle


def test_within_the_tolerance_is_not_wrong_way_beyond_it_is() -> None:
    inside_tolerance = Clip().span(0, 8, moving("p1", heading(130.0, 0.05)))
    assert run(watched(tolerance_deg=45.0), inside_tolerance) == []
    beyond = Clip().span(0, 8, moving("p1", heading(140.0, 0.05)))
    events = run(watched(tolerance_deg=45.0), beyond)
    assert [(offset(e), e.details["angle_deg"]) for e in events] == [(1.5, "140.000")]


def test_too_slow_is_not_wrong_way() -> None:
    clip = Clip().span(0, 10, moving("p1", heading(180.0, 0.02)))
    assert run(watched(min_speed=0.03), clip) == []


def test_a_pause_restarts_the_duration() -> None:
    path = along((0.0, (0.5, 0.45)), (0.7, (0.5, 0.506)), (3.0, (0.5, 0.506)), (6.0, (0.5, 0.746)))
    # Down at 0.08/s for 0.7 s (against from 0.5 s; the 1 s speed window drops below 0.03 at
    # 1.4 s), still until 3 s, then down again: against from 3.4 s (0.032/s), raised at 4.4 s.
    events = run(watched(), Clip().span(0, 6, moving("p1", path)))
    assert [(offset(e), e.details["duration_s"], e.details["speed"]) for e in events] == [
        (4.4, "1.000", "0.080")
    ]


def test_a_jittering_person_standing_still_is_not_moving() -> None:
    rng = random.Random(11)
    clip = Clip().span(0, 60, lambda t: [track("p1", jittered(box_on(INSIDE), rng))])
    assert run(watched(), clip) == []


def test_a_track_lost_and_found_keeps_its_duration() -> None:
    path = heading(180.0, 0.05)
    clip = (
        Clip()
        .span(0, 0.8, moving("p1", path))
        .span(0.8, 1.6, moving("p1", path, state=LOST))
        .span(1.6, 4, moving("p1", path))
    )
    events = run(watched(), clip)
    # Against since 0.5 s; nothing is judged while lost; on reappearing it has lasted 1.1 s.
    assert [(offset(e), e.details["duration_s"]) for e in events] == [(1.6, "1.100")]


def test_leaving_and_re_entering_raises_again() -> None:
    band = Polygon.of([(0.2, 0.4), (0.8, 0.4), (0.8, 0.6), (0.2, 0.6)])
    path = along(
        (0.0, (0.5, 0.3)),  # down: enters at 0.4 (t = 2), wrong way at once (measured since 0)
        (5.0, (0.5, 0.55)),
        (9.0, (0.5, 0.35)),  # back up, out of the top at t = 8
        (13.0, (0.5, 0.55)),  # down again: in at t = 10
    )
    analyzer = analyser(zone(polygon=band, wrong_way=WrongWaySpec(direction=UP)))
    events = run(analyzer, Clip().span(0, 13, moving("p1", path)))
    assert [(offset(e), e.details["duration_s"]) for e in events] == [
        (3.0, "1.000"),
        (11.0, "1.000"),
    ]
    assert events[0].event_id != events[1].event_id


def test_at_most_one_event_per_stay() -> None:
    clip = Clip().span(0, 10, moving("p1", heading(180.0, 0.04)))
    assert [offset(e) for e in run(watched(), clip)] == [1.5]


def test_irregular_frame_intervals() -> None:
    path = heading(180.0, 0.05)
    clip = Clip()
    for t in (0.0, 0.3, 0.45, 0.9, 1.0, 1.35, 1.9, 2.05, 2.6):
        clip.add(t, track("p1", path(t)))
    events = run(watched(), clip)
    # Speed first measurable at 0.9 s (0.5 s of history), 1 s of wrong way at 1.9 s.
    assert [(offset(e), e.details["duration_s"], e.details["speed"]) for e in events] == [
        (1.9, "1.000", "0.050")
    ]


def test_only_the_listed_classes() -> None:
    path = heading(180.0, 0.05)
    clip = Clip().span(
        0, 5, lambda t: [track("d1", path(t), cls="dog"), track("c1", path(t), cls="car")]
    )
    events = run(watched(), clip)
    assert [(e.track_ids, e.class_name) for e in events] == [(("c1",), "car")]


def test_replay_gives_identical_events() -> None:
    clip = Clip().span(0, 5, moving("p1", heading(180.0, 0.05)))
    first, second = run(watched(), clip), run(watched(), clip)
    assert len(first) == 1
    assert first == second


# --- speeds ---------------------------------------------------------------------------------


def test_no_velocity_before_half_the_window_is_observed() -> None:
    motion = Motion()
    assert motion.velocity(1.0) is None
    motion.add(0.0, (0.5, 0.5))
    assert motion.velocity(1.0) is None
    motion.add(0.25, (0.5, 0.51))
    assert motion.velocity(1.0) is None  # 0.25 s is under half the window
    motion.add(0.5, (0.5, 0.52))
    vx, vy = motion.velocity(1.0)  # type: ignore[misc]
    assert (vx, round(vy, 9)) == (0.0, 0.04)


def test_velocity_is_measured_over_the_window_not_between_frames() -> None:
    motion = Motion()
    for i in range(21):
        t = i * 0.125
        # Steady 0.1/s to the right, plus a 0.01 zigzag from frame to frame.
        motion.add(t, (0.2 + 0.1 * t + (0.01 if i % 2 else 0.0), 0.5))
    vx, vy = motion.velocity(1.0)  # type: ignore[misc]
    assert (round(vx, 9), vy) == (0.1, 0.0)  # from t = 1.5 to 2.5: both on the zigzag's low side


def test_velocity_after_a_gap_spans_the_gap() -> None:
    motion = Motion()
    motion.add(0.0, (0.1, 0.5))
    motion.add(3.0, (0.4, 0.5))
    vx, _ = motion.velocity(1.0)  # type: ignore[misc]
    assert round(vx, 9) == 0.1


def test_points_older_than_the_horizon_are_dropped() -> None:
    motion = Motion(horizon_s=5.0)
    motion.add(0.0, (0.1, 0.5))
    motion.add(6.0, (0.4, 0.5))
    assert motion.velocity(1.0) is None  # only one point left
