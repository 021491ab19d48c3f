"""Occupancy per zone and period: in, out, present at the end, peak; one event per period, on
the first frame of the next one. Periods are 10 s and ``T0`` starts one."""

from __future__ import annotations

from collections.abc import Callable

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.occupancy import OccupancyCounter
from vigie_core.analytics.rules.loitering import LoiteringSpec
from vigie_core.geometry import Polygon
from vigie_core.rules import OccupancySpec
from vigie_core.scene import SceneSpec, ZoneSpec
from vigie_core.schedule import Schedule, TimeWindow, parse_clock
from vigie_core.types import Event, EventKind, FrameRef, Track

from .scenes import CAMERA, LOST, OUTSIDE, T0, Clip, analyser, offset, run, track, zone

PERIOD = OccupancySpec(period_s=10.0)
A, B, C = (0.3, 0.8), (0.5, 0.8), (0.7, 0.8)


def counted(*zones: ZoneSpec, spec: OccupancySpec = PERIOD) -> SceneAnalyzer:
    return analyser(*(zones or (zone(),)), occupancy=spec)


def present(**where: tuple[float, float]) -> Callable[[float], list[Track]]:
    return lambda t: [track(tid, anchor) for tid, anchor in where.items()]


def first_period() -> Clip:
    """p1 all along; p2 from 2 s to 7 s; p3 from 6 s: peak 3 at 6-7 s, 2 present at the end."""
    return (
        Clip()
        .span(0, 2, present(p1=A))
        .span(2, 6, present(p1=A, p2=B))
        .span(6, 7, present(p1=A, p2=B, p3=C))
        .span(7, 10, present(p1=A, p2=OUTSIDE, p3=C))
    )


def test_a_period_is_closed_on_the_first_frame_of_the_next_with_its_counts() -> None:
    clip = first_period().span(10, 12, present(p1=A, p3=C))
    events = run(counted(), clip)
    assert len(events) == 1
    event = events[0]
    assert event.kind is EventKind.OCCUPANCY
    assert (event.zone, event.class_name, event.track_ids) == ("floor", "person", ())
    assert event.frame == clip.at(10.0)
    assert event.details == {
        "period_start": f"{T0:.3f}",
        "period_s": "10.000",
        "in": "3",
        "out": "1",
        "present": "2",
        "peak": "3",
    }


def test_no_event_before_the_period_ends() -> None:
    assert run(counted(), first_period()) == []


def counts(events: list[Event]) -> list[tuple[str, str, str, str]]:
    return [
        (e.details["in"], e.details["out"], e.details["present"], e.details["peak"]) for e in events
    ]


def test_the_next_period_carries_who_is_present_without_counting_them_in() -> None:
    clip = (
        first_period()
        .span(10, 15, present(p1=A, p3=C))
        .span(15, 20, present(p1=OUTSIDE, p3=C, p4=B))  # p1 seen outside: left; p4 came in
        .span(20, 21, present(p3=C, p4=B))
    )
    events = run(counted(), clip)
    assert [offset(e) for e in events] == [10.0, 20.0]
    assert counts(events) == [("3", "1", "2", "3"), ("1", "1", "2", "2")]


def test_lost_tracks_are_still_present_where_last_seen() -> None:
    clip = (
        Clip()
        .span(0, 3, present(p1=A, p2=B))
        # p2 hidden from 3 s, its prediction drifting out of the zone.
        .span(3, 10, lambda t: [track("p1", A), track("p2", OUTSIDE, state=LOST)])
        .span(10, 11, lambda t: [track("p1", A), track("p2", OUTSIDE, state=LOST)])
    )
    events = run(counted(), clip)
    assert [(e.details["in"], e.details["out"], e.details["present"]) for e in events] == [
        ("2", "0", "2")
    ]


def test_ended_tracks_leave() -> None:
    clip = Clip().span(0, 4, present(p1=A, p2=B))
    clip.add(4.0, track("p1", A), ended=["p2"])
    clip.span(4.1, 11, present(p1=A))
    events = run(counted(), clip)
    assert counts(events) == [("2", "1", "1", "2")]


def test_coming_and_going_twice_counts_twice() -> None:
    clip = (
        Clip()
        .span(0, 2, present(p1=A))
        .span(2, 4, present(p1=OUTSIDE))
        .span(4, 6, present(p1=A))
        .span(6, 10, present(p1=OUTSIDE))
        .span(10, 11, present(p1=OUTSIDE))
    )
    events = run(counted(), clip)
    assert counts(events) == [("2", "2", "0", "1")]


def test_a_period_without_frames_gives_no_event() -> None:
    # Camera down from 5 s to 25 s: the period 10-20 s has no frame, hence no event.
    clip = Clip().span(0, 5, present(p1=A)).span(25, 31, present(p1=A))
    events = run(counted(), clip)
    assert [(offset(e), e.details["period_start"]) for e in events] == [
        (25.0, f"{T0:.3f}"),
        (30.0, f"{T0 + 20:.3f}"),
    ]


def test_only_the_counted_classes() -> None:
    clip = Clip().span(0, 11, lambda t: [track("p1", A), track("c1", B, cls="car")])
    people = run(counted(), clip)
    assert [(e.class_name, e.details["in"]) for e in people] == [("person", "1")]
    both = run(counted(spec=OccupancySpec(frozenset({"car", "truck"}), 10.0)), clip)
    assert [(e.class_name, e.details["in"]) for e in both] == [("car,truck", "1")]


def test_each_zone_has_its_own_counter() -> None:
    left = Polygon.of([(0.2, 0.4), (0.45, 0.4), (0.45, 0.95), (0.2, 0.95)])
    right = Polygon.of([(0.45, 0.4), (0.8, 0.4), (0.8, 0.95), (0.45, 0.95)])
    analyzer = counted(zone("left", left), zone("right", right))
    events = run(analyzer, Clip().span(0, 11, present(p1=A, p2=B, p3=C)))
    assert [(e.zone, e.details["in"]) for e in events] == [("left", "1"), ("right", "2")]


def test_counted_even_outside_the_zone_schedule() -> None:
    # Rules of the zone are off (watched 08:00-09:00 UTC only); occupancy is still counted.
    window = TimeWindow(frozenset({"tue"}), parse_clock("08:00", "s"), parse_clock("09:00", "e"))
    morning = Schedule((window,))
    analyzer = counted(zone(schedule=morning, loitering=LoiteringSpec(1.0)))
    events = run(analyzer, Clip().span(0, 11, present(p1=A)))
    assert [(e.kind, e.details["in"]) for e in events] == [(EventKind.OCCUPANCY, "1")]


def test_switched_off_and_on_by_default() -> None:
    assert run(analyser(zone(), occupancy=None), Clip().span(0, 25, present(p1=A))) == []
    default = SceneAnalyzer(SceneSpec(CAMERA, zones=(zone(),)))
    # The default period is a minute: T0 + 40 s starts a new one.
    events = run(default, Clip().span(0, 45, present(p1=A)))
    assert [(offset(e), e.details["period_s"]) for e in events] == [(40.0, "60.000")]


def test_counter_directly() -> None:
    counter = OccupancyCounter("hall", PERIOD)

    def ref(t: float) -> FrameRef:
        return FrameRef(CAMERA, 0, T0 + t)

    assert counter.update(ref(0.0), {"a", "b"}) == []
    assert counter.update(ref(1.0), {"b", "c", "d"}) == []
    assert counter.update(ref(9.9), set()) == []
    (event,) = counter.update(ref(10.0), {"e"})
    assert event.details == {
        "period_start": f"{T0:.3f}",
        "period_s": "10.000",
        "in": "4",
        "out": "4",
        "present": "0",
        "peak": "3",
    }
