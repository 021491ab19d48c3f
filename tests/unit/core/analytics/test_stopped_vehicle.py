"""Stopped vehicle: a vehicle standing still in a no-stopping zone for more than ``max_stop_s``.

The car drives in at 0.5 frame widths per second (0.05 per frame at 10 fps, well beyond the
0.02 still radius) and stops at ``PARKED`` at t = 1 s: it is still from that frame on.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.motion import Stillness
from vigie_core.analytics.rules.stopped_vehicle import StoppedVehicleSpec
from vigie_core.types import EventKind, Track, TrackState

from .scenes import (
    CAR,
    LOST,
    OBSERVED,
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

PARKED = (0.5, 0.8)
ARRIVING = along((0.0, (0.0, 0.8)), (1.0, PARKED))


def watched(max_stop_s: float = 30.0, **spec: object) -> SceneAnalyzer:
    return analyser(zone(stopped_vehicle=StoppedVehicleSpec(max_stop_s, **spec)))  # type: ignore[arg-type]


def car(path: PathFn = ARRIVING, state: TrackState = OBSERVED) -> Callable[[float], list[Track]]:
    return moving("c1", path, cls="car", size=CAR, state=state)


def jittery_car(rng: random.Random, amount: float) -> Callable[[float], list[Track]]:
    return lambda t: [track("c1", jittered(box_on(ARRIVING(t), CAR), rng, amount), cls="car")]


def test_a_car_stopped_for_max_stop_s_is_raised_with_its_explanation() -> None:
    clip = Clip().span(0, 60, car())
    events = run(watched(30.0), clip)
    assert len(events) == 1
    event = events[0]
    assert event.kind is EventKind.STOPPED_VEHICLE
    assert (event.zone, event.class_name, event.track_ids) == ("floor", "car", ("c1",))
    assert event.frame == clip.at(31.0)
    assert event.details == {"stopped_s": "30.000", "max_stop_s": "30.000"}


def test_driving_off_before_max_stop_s_is_not_raised() -> None:
    path = along((0.0, (0.0, 0.8)), (1.0, PARKED), (29.9, PARKED), (30.9, (0.0, 0.8)))
    assert run(watched(30.0), Clip().span(0, 60, car(path))) == []


def test_moving_within_the_zone_restarts_the_stop() -> None:
    path = along((0.0, (0.0, 0.8)), (1.0, PARKED), (20.0, PARKED), (20.2, (0.6, 0.8)))
    events = run(watched(30.0), Clip().span(0, 60, car(path)))
    assert [(offset(e), e.details["stopped_s"]) for e in events] == [(50.2, "30.000")]


def test_every_vehicle_class_but_not_people() -> None:
    clip = Clip().span(
        0,
        40,
        lambda t: [
            track("t1", ARRIVING(t), cls="truck", size=CAR),
            track("p1", (0.3, 0.8)),
        ],
    )
    assert [(e.track_ids, e.class_name) for e in run(watched(30.0), clip)] == [(("t1",), "truck")]


def test_a_parked_car_jittering_by_half_a_percent_stays_still() -> None:
    rng = random.Random(6)
    clip = Clip().span(0, 120, jittery_car(rng, 0.005))
    events = run(watched(30.0), clip)
    assert [(offset(e), e.details["stopped_s"]) for e in events] == [(31.0, "30.000")]


def test_a_parked_car_jittering_by_one_percent_stays_still() -> None:
    rng = random.Random(6)
    clip = Clip().span(0, 120, jittery_car(rng, 0.01))
    events = run(watched(30.0), clip)
    assert [(offset(e), e.details["stopped_s"]) for e in events] == [(31.0, "30.000")]


def test_a_car_hidden_for_a_while_stays_stopped() -> None:
    clip = (
        Clip()
        .span(0, 10, car())
        # A bus passes in front: the tracker keeps predicting, drifting to the right.
        .span(10, 20, car(along((10.0, PARKED), (20.0, (0.7, 0.8))), state=LOST))
        .span(20, 40, car())
    )
    events = run(watched(30.0), clip)
    assert [(offset(e), e.details["stopped_s"]) for e in events] == [(31.0, "30.000")]


def test_leaving_and_coming_back_raises_again() -> None:
    path = along(
        (0.0, (0.0, 0.8)),
        (1.0, PARKED),
        (40.0, PARKED),
        (41.0, (0.0, 0.8)),  # out of the zone (x < 0.2) from 40.6 to 42.4: the stay ends
        (42.0, (0.0, 0.8)),
        (43.0, PARKED),
    )
    events = run(watched(30.0), Clip().span(0, 80, car(path)))
    assert [(offset(e), e.details["stopped_s"]) for e in events] == [
        (31.0, "30.000"),
        (73.0, "30.000"),
    ]


def test_at_most_one_event_per_stay() -> None:
    assert [offset(e) for e in run(watched(10.0), Clip().span(0, 200, car()))] == [11.0]


def test_dropped_frames_raise_on_the_first_frame_after_the_gap() -> None:
    clip = Clip().span(0, 5, car()).span(35, 40, car())
    events = run(watched(30.0), clip)
    assert [(offset(e), e.details["stopped_s"]) for e in events] == [(35.0, "34.000")]


def test_inching_forward_is_stopped_driving_slowly_is_not() -> None:
    # Inching forward by 0.015 over 20 s (a queue): the mean position follows, still stopped.
    path = along((0.0, (0.0, 0.8)), (1.0, PARKED), (21.0, (0.515, 0.8)))
    events = run(watched(30.0, still_radius=0.02), Clip().span(0, 40, car(path)))
    assert [(offset(e), e.details["stopped_s"]) for e in events] == [(31.0, "30.000")]
    # Driving at 0.01 frame/s for 35 s: the anchor outruns the mean within 4 s, every time.
    path = along((0.0, (0.0, 0.8)), (1.0, PARKED), (36.0, (0.85, 0.8)))
    assert run(watched(30.0, still_radius=0.02), Clip().span(0, 40, car(path))) == []


def test_replay_gives_identical_events() -> None:
    clip = Clip().span(0, 40, car())
    first, second = run(watched(30.0), clip), run(watched(30.0), clip)
    assert [offset(e) for e in first] == [31.0]
    assert first == second


# --- stillness ------------------------------------------------------------------------------


def test_stillness_counts_from_where_it_stopped() -> None:
    still_ = Stillness()
    assert still_.update(0.0, (0.5, 0.5), 0.02) == 0.0
    assert still_.update(1.0, (0.51, 0.5), 0.02) == 1.0
    assert still_.update(2.0, (0.49, 0.51), 0.02) == 2.0  # 0.014 from the stop
    assert still_.since == 0.0  # "where it stopped" is the mean of the three anchors
    assert still_.at == pytest.approx((0.5, 0.50333), abs=1e-5)
    assert still_.update(3.0, (0.53, 0.5), 0.02) == 0.0  # 0.03 away: moved, stops afresh
    assert (still_.since, still_.at) == (3.0, (0.53, 0.5))
    assert still_.update(4.5, (0.53, 0.5), 0.02) == 1.5


def test_a_car_already_standing_when_it_is_first_seen_is_stopped_from_that_frame() -> None:
    # A no-stopping zone is about the car standing there, not about having watched it arrive:
    # a car found standing when the camera starts (or that the detector first sees once
    # stopped, as the small distant car of the junction clip in tests/e2e) is stopped from its
    # first observed frame on.
    clip = Clip().span(0, 60, car(along((0.0, PARKED))))
    events = run(watched(30.0), clip)
    assert [(offset(e), e.details["stopped_s"]) for e in events] == [(30.0, "30.000")]
