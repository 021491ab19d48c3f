"""Abandoned objects (static for ``static_s``, nobody within ``owner_radius`` for
``unattended_s``) and removed ones (a static object no longer seen for ``removal_grace_s``).

The bag stands at ``BAG_AT`` from t = 0: its box is (0.475, 0.74, 0.525, 0.8). Its owner stands
right next to it (0.005 away) or far off (0.345 away); both are always in the frame.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.abandoned import box_gap
from vigie_core.rules import AbandonedSpec
from vigie_core.types import Box, Event, EventKind, Track, TrackState

from .scenes import (
    BAG,
    LOST,
    OBSERVED,
    OUTSIDE,
    Clip,
    along,
    analyser,
    box_on,
    jittered,
    of_kind,
    offset,
    run,
    track,
    zone,
)

BAG_AT = (0.5, 0.8)
BAG_BOX = "0.475,0.740,0.525,0.800"
BESIDE = (0.56, 0.8)  # person box x from 0.53: 0.005 from the bag
FAR = (0.9, 0.8)  # person box x from 0.87: 0.345 from the bag


def watched(**spec: object) -> SceneAnalyzer:
    return analyser(zone(abandoned=AbandonedSpec(**spec)))  # type: ignore[arg-type]


def bag(tid: str = "b1", state: TrackState = OBSERVED, cls: str = "backpack") -> Track:
    return track(tid, BAG_AT, cls=cls, size=BAG, state=state)


def bag_and_owner(
    owner_at: Callable[[float], tuple[float, float] | None], tid: str = "b1"
) -> Callable[[float], list[Track]]:
    def tracks(t: float) -> list[Track]:
        where = owner_at(t)
        return [bag(tid)] + ([] if where is None else [track("o1", where)])

    return tracks


def owner_leaving_at(leave_s: float) -> Callable[[float], tuple[float, float]]:
    return lambda t: BESIDE if t < leave_s - 1e-9 else FAR


def jittery_bag(rng: random.Random, amount: float) -> Callable[[float], list[Track]]:
    return lambda t: [track("b1", jittered(box_on(BAG_AT, BAG), rng, amount), cls="backpack")]


def kinds(events: list[Event]) -> list[tuple[float, EventKind]]:
    return [(offset(e), e.kind) for e in events]


def test_the_owner_leaving_a_static_bag_raises_after_unattended_s_with_its_explanation() -> None:
    clip = Clip().span(0, 80, bag_and_owner(owner_leaving_at(45.0)))
    events = run(watched(), clip)
    assert len(events) == 1
    event = events[0]
    assert event.kind is EventKind.ABANDONED_OBJECT
    assert (event.zone, event.class_name, event.track_ids) == ("floor", "backpack", ("b1",))
    # Last seen next to it at 44.9 s.
    assert event.frame == clip.at(54.9)
    assert event.details == {
        "static_s": "54.900",
        "min_static_s": "30.000",
        "unattended_s": "10.000",
        "min_unattended_s": "10.000",
        "nearest_person": "0.345",
        "owner_radius": "0.150",
        "box": BAG_BOX,
    }


def test_an_owner_standing_next_to_the_bag_keeps_it_attended() -> None:
    clip = Clip().span(0, 120, bag_and_owner(lambda t: BESIDE))
    assert run(watched(), clip) == []


def test_a_bag_nobody_is_near_is_abandoned_once_static() -> None:
    events = run(watched(), Clip().span(0, 60, bag_and_owner(lambda t: None)))
    assert [
        (offset(e), e.details["unattended_s"], e.details["nearest_person"]) for e in events
    ] == [(30.0, "30.000", "none")]


def test_an_owner_leaving_just_before_the_bag_turns_static_gets_unattended_s() -> None:
    events = run(watched(), Clip().span(0, 60, bag_and_owner(owner_leaving_at(30.0))))
    assert [(offset(e), e.details["unattended_s"]) for e in events] == [(39.9, "10.000")]


def test_anyone_coming_near_restarts_the_unattended_time() -> None:
    def people(t: float) -> tuple[float, float]:
        return BESIDE if t < 40.0 - 1e-9 or 45.0 - 1e-9 < t < 46.0 - 1e-9 else FAR

    events = run(watched(), Clip().span(0, 80, bag_and_owner(people)))
    assert [(offset(e), e.details["unattended_s"]) for e in events] == [(55.9, "10.000")]


def test_a_carried_bag_is_never_static_and_never_removed() -> None:
    walk = along((0.0, (0.25, 0.8)), (20.0, (0.75, 0.8)), (25.0, (0.95, 0.8)))
    clip = Clip().span(
        0,
        25,
        lambda t: [track("o1", walk(t)), track("b1", (walk(t)[0], 0.7), cls="backpack", size=BAG)],
    )
    clip.add(25.0, track("o1", OUTSIDE), ended=["b1"])
    clip.span(25.1, 40, lambda t: [track("o1", OUTSIDE)])
    assert run(watched(static_s=5.0, unattended_s=0.0), clip) == []


def test_a_static_object_whose_track_ends_is_removed_after_the_grace() -> None:
    clip = Clip().span(0, 40, bag_and_owner(lambda t: None))
    clip.add(40.0, ended=["b1"])
    clip.span(40.1, 50, lambda t: [])
    events = run(watched(), clip)
    assert kinds(events) == [(30.0, EventKind.ABANDONED_OBJECT), (41.9, EventKind.OBJECT_REMOVED)]
    removed = events[1]
    assert (removed.zone, removed.class_name, removed.track_ids) == ("floor", "backpack", ("b1",))
    assert removed.frame == clip.at(41.9)
    assert removed.details == {
        "stood_s": "39.900",
        "unseen_s": "2.000",
        "was_abandoned": "true",
        "box": BAG_BOX,
    }


def test_an_attended_bag_picked_up_is_removed_but_was_not_abandoned() -> None:
    clip = Clip().span(0, 40, bag_and_owner(lambda t: BESIDE))
    clip.add(40.0, track("o1", BESIDE), ended=["b1"])
    clip.span(40.1, 50, lambda t: [track("o1", BESIDE)])
    events = run(watched(), clip)
    assert [(offset(e), e.kind, e.details["was_abandoned"]) for e in events] == [
        (41.9, EventKind.OBJECT_REMOVED, "false")
    ]


def test_removal_can_be_switched_off() -> None:
    clip = Clip().span(0, 40, bag_and_owner(lambda t: BESIDE))
    clip.add(40.0, ended=["b1"])
    clip.span(40.1, 50, lambda t: [])
    assert run(watched(report_removal=False), clip) == []


def test_a_short_occlusion_is_not_a_removal_a_long_one_is() -> None:
    short = (
        Clip()
        .span(0, 40, bag_and_owner(lambda t: BESIDE))
        .span(40, 41.5, lambda t: [bag(state=LOST), track("o1", BAG_AT)])
        .span(41.5, 60, bag_and_owner(lambda t: BESIDE))
    )
    assert run(watched(), short) == []
    long = (
        Clip()
        .span(0, 40, bag_and_owner(lambda t: BESIDE))
        .span(40, 43, lambda t: [bag(state=LOST), track("o1", BAG_AT)])
        .span(43, 50, bag_and_owner(lambda t: BESIDE))
    )
    events = run(watched(), long)
    assert [(offset(e), e.kind, e.details["unseen_s"]) for e in events] == [
        (41.9, EventKind.OBJECT_REMOVED, "2.000")
    ]


def test_a_new_track_at_the_same_place_takes_over_the_object() -> None:
    clip = Clip().span(0, 40, bag_and_owner(lambda t: None))
    clip.add(40.0, ended=["b1"])
    clip.span(40.1, 41, lambda t: [])
    # The detector missed it for a second; the tracker starts a new track where it stood.
    clip.span(41, 90, lambda t: [bag("b2")])
    clip.add(90.0, ended=["b2"])
    clip.span(90.1, 95, lambda t: [])
    events = run(watched(), clip)
    assert kinds(events) == [(30.0, EventKind.ABANDONED_OBJECT), (91.9, EventKind.OBJECT_REMOVED)]
    assert events[1].track_ids == ("b2",)
    assert events[1].details["stood_s"] == "89.900"
    assert events[1].details["was_abandoned"] == "true"


def test_a_bag_jittering_by_half_a_percent_is_static() -> None:
    rng = random.Random(4)
    clip = Clip().span(0, 120, jittery_bag(rng, 0.005))
    assert [offset(e) for e in run(watched(), clip)] == [30.0]


def test_a_bag_jittering_by_one_percent_is_static() -> None:
    rng = random.Random(4)
    clip = Clip().span(0, 120, jittery_bag(rng, 0.01))
    assert [offset(e) for e in run(watched(), clip)] == [30.0]


def test_only_the_listed_classes_in_the_zone() -> None:
    clip = Clip().span(
        0,
        60,
        lambda t: [
            track("c1", BAG_AT, cls="chair", size=BAG),
            track("b9", OUTSIDE, cls="suitcase", size=BAG),
        ],
    )
    assert run(watched(), clip) == []
    bottles = Clip().span(0, 40, lambda t: [track("x1", BAG_AT, cls="bottle", size=BAG)])
    events = run(watched(classes=frozenset({"bottle"}), static_s=5.0), bottles)
    # Static at 5 s; nobody came near since it appeared: unattended for 10 s at 10 s.
    assert [(offset(e), e.class_name) for e in of_kind(events, EventKind.ABANDONED_OBJECT)] == [
        (10.0, "bottle")
    ]


def test_one_abandoned_event_per_object() -> None:
    events = run(watched(), Clip().span(0, 300, bag_and_owner(lambda t: None)))
    assert [offset(e) for e in events] == [30.0]


def test_replay_gives_identical_events() -> None:
    clip = Clip().span(0, 60, bag_and_owner(owner_leaving_at(35.0)))
    clip.add(60.0, ended=["b1"])
    clip.span(60.1, 65, lambda t: [])
    first, second = run(watched(), clip), run(watched(), clip)
    assert kinds(first) == [(44.9, EventKind.ABANDONED_OBJECT), (61.9, EventKind.OBJECT_REMOVED)]
    assert first == second


def test_box_gap() -> None:
    a = Box(0.1, 0.1, 0.2, 0.2)
    assert box_gap(a, Box(0.15, 0.15, 0.3, 0.3)) == 0.0  # overlapping
    assert box_gap(a, Box(0.2, 0.1, 0.3, 0.2)) == 0.0  # touching
    assert math.isclose(box_gap(a, Box(0.5, 0.1, 0.6, 0.2)), 0.3)
    assert math.isclose(box_gap(a, Box(0.5, 0.6, 0.6, 0.7)), 0.5)  # 0.3 across, 0.4 down
