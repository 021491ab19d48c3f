"""Crowd density: more than ``max_people`` (or people per m²) in a zone for ``min_duration_s``,
one event until the zone has been back under the limit for ``clear_s``; and its heat map."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.crowd import HeatMap, decode_heatmap
from vigie_core.rules import CrowdSpec
from vigie_core.schedule import Schedule, TimeWindow, parse_clock
from vigie_core.types import EventKind, Track

from .scenes import LOST, OUTSIDE, Clip, analyser, offset, run, track, zone

# Standing spots inside the floor zone, all on row 5 of the 16x9 heat map.
SPOTS = [(0.3, 0.6), (0.4, 0.6), (0.5, 0.6), (0.6, 0.6), (0.7, 0.6)]


def watched(**spec: object) -> SceneAnalyzer:
    spec.setdefault("movement", False)
    area = spec.pop("area_m2", None)
    return analyser(zone(crowd=CrowdSpec(**spec), area_m2=area))  # type: ignore[arg-type]


def people(n: int) -> Callable[[float], list[Track]]:
    return lambda t: [track(f"p{i}", SPOTS[i]) for i in range(n)]


def test_over_the_limit_for_min_duration_is_raised_with_its_explanation() -> None:
    clip = Clip().span(0, 20, people(4))
    events = run(watched(max_people=3, min_duration_s=5.0), clip)
    assert len(events) == 1
    event = events[0]
    assert event.kind is EventKind.CROWD_DENSITY
    assert (event.zone, event.class_name) == ("floor", "person")
    assert event.track_ids == ("p0", "p1", "p2", "p3")
    assert event.frame == clip.at(5.0)
    empty = "0" * 16
    row5 = "0000101011000000"  # columns 4, 6, 8, 9 (x = 0.3, 0.4, 0.5, 0.6); y = 0.6: row 5
    assert event.details == {
        "people": "4",
        "duration_s": "5.000",
        "min_duration_s": "5.000",
        "max_people": "3",
        "heatmap": "16x9:" + "/".join([empty] * 5 + [row5] + [empty] * 3),
    }


def test_the_limit_itself_is_not_over() -> None:
    assert run(watched(max_people=3), Clip().span(0, 30, people(3))) == []


def test_over_for_less_than_min_duration_is_not_raised() -> None:
    clip = Clip().span(0, 4.9, people(4)).span(4.9, 30, people(3))
    assert run(watched(max_people=3, min_duration_s=5.0), clip) == []


def test_zero_min_duration_raises_on_the_first_frame_over() -> None:
    clip = Clip().span(0, 2, people(3)).span(2, 5, people(4))
    events = run(watched(max_people=3, min_duration_s=0.0), clip)
    assert [(offset(e), e.details["duration_s"]) for e in events] == [(2.0, "0.000")]


def test_one_event_while_it_holds() -> None:
    events = run(watched(max_people=3), Clip().span(0, 120, people(5)))
    assert [(offset(e), e.details["people"]) for e in events] == [(5.0, "5")]


def test_re_armed_only_after_clear_s_under_the_limit() -> None:
    spec = {"max_people": 3, "min_duration_s": 5.0, "clear_s": 10.0}
    clip = (
        Clip()
        .span(0, 6, people(4))  # raised at 5
        .span(6, 15, people(2))  # 9 s under: not cleared
        .span(15, 25, people(4))  # over again: nothing
        .span(25, 36, people(2))  # 10 s under: cleared on the frame at 35.0
        .span(36, 45, people(5))  # over again: raised at 41
    )
    events = run(watched(**spec), clip)
    assert [(offset(e), e.details["people"]) for e in events] == [(5.0, "4"), (41.0, "5")]


def test_a_short_dip_under_the_limit_does_not_restart_the_clear() -> None:
    clip = (
        Clip()
        .span(0, 6, people(4))
        .span(6, 12, people(2))
        .span(12, 13, people(4))  # back over: the 10 s under restart from 13
        .span(13, 22, people(2))  # 9 s under
        .span(22, 30, people(4))
    )
    events = run(watched(max_people=3, clear_s=10.0), clip)
    assert [offset(e) for e in events] == [5.0]


def test_lost_people_still_count_where_last_seen() -> None:
    def crowd(t: float) -> list[Track]:
        tracks = [track(f"p{i}", SPOTS[i]) for i in range(3)]
        # Hidden behind the others from 1 s; the prediction drifts out of the zone.
        state = LOST if t >= 1.0 else tracks[0].state
        return [*tracks, track("p3", SPOTS[3] if t < 1.0 else OUTSIDE, state=state)]

    events = run(watched(max_people=3), Clip().span(0, 10, crowd))
    assert [(offset(e), e.track_ids) for e in events] == [(5.0, ("p0", "p1", "p2", "p3"))]


def test_people_outside_and_other_classes_are_not_counted() -> None:
    def scene_(t: float) -> list[Track]:
        inside = [track(f"p{i}", SPOTS[i]) for i in range(3)]
        cars = [track(f"c{i}", SPOTS[i], cls="car") for i in range(3)]
        return [*inside, *cars, track("p9", OUTSIDE)]

    assert run(watched(max_people=3), Clip().span(0, 20, scene_)) == []


def test_density_per_square_metre_on_a_zone_of_known_area() -> None:
    events = run(watched(max_density_per_m2=0.3, area_m2=10.0), Clip().span(0, 10, people(4)))
    assert len(events) == 1
    assert events[0].details == {
        "people": "4",
        "duration_s": "5.000",
        "min_duration_s": "5.000",
        "area_m2": "10.000",
        "people_per_m2": "0.400",
        "max_people_per_m2": "0.300",
        "heatmap": events[0].details["heatmap"],
    }
    assert run(watched(max_density_per_m2=0.3, area_m2=10.0), Clip().span(0, 10, people(3))) == []


def test_density_per_square_metre_needs_the_area() -> None:
    with pytest.raises(ValueError, match=r"crowd\.max_density_per_m2"):
        watched(max_density_per_m2=0.3)


def test_not_watched_outside_its_schedule() -> None:
    # 22:13 UTC on a Tuesday; the zone is watched on weekdays 08:00-18:00 UTC only.
    weekdays = frozenset({"mon", "tue", "wed", "thu", "fri"})
    day = Schedule(
        (TimeWindow(weekdays, parse_clock("08:00", "start"), parse_clock("18:00", "end")),)
    )
    analyzer = analyser(zone(crowd=CrowdSpec(max_people=3, movement=False), schedule=day))
    assert run(analyzer, Clip().span(0, 30, people(5))) == []


def test_replay_gives_identical_events() -> None:
    clip = Clip().span(0, 10, people(4)).span(10, 25, people(1)).span(25, 40, people(5))
    first, second = run(watched(max_people=3), clip), run(watched(max_people=3), clip)
    assert [offset(e) for e in first] == [5.0, 30.0]
    assert first == second


# --- heat map -----------------------------------------------------------------------------------


def test_heat_map_counts_anchors_per_cell_rows_top_to_bottom() -> None:
    text = HeatMap(cols=4, rows=2).encode([(0.1, 0.1), (0.1, 0.2), (0.9, 0.9), (1.0, 1.0)])
    assert text == "4x2:2000/0002"
    assert decode_heatmap(text) == [[2, 0, 0, 0], [0, 0, 0, 2]]


def test_heat_map_cells_read_at_most_nine() -> None:
    text = HeatMap(cols=2, rows=1).encode([(0.2, 0.5)] * 12)
    assert text == "2x1:90"


def test_an_empty_heat_map_is_all_zeros() -> None:
    assert decode_heatmap(HeatMap().encode([])) == [[0] * 16 for _ in range(9)]


@pytest.mark.parametrize("text", ["3x2:000/00", "2x2:00/00/00", "2x1:0a"])
def test_a_malformed_heat_map_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_heatmap(text)
