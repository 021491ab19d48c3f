"""Person down: seen standing, then a wide box that stays down, hardly moving, for min_down_s.

Boxes are measured in pixels on a 768x432 frame: a standing box (0.06 x 0.3) is 0.356 wide for
its height, a lying one (0.25 x 0.08) 5.556.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.rules import pixel_ratio
from vigie_core.analytics.rules.person_down import PersonDownSpec
from vigie_core.geometry import Polygon
from vigie_core.types import Box, EventKind, FrameRef, Track, TrackState

from .scenes import (
    CAMERA,
    INSIDE,
    LOST,
    LYING,
    OBSERVED,
    OUTSIDE,
    STANDING,
    Clip,
    along,
    analyser,
    box_on,
    jittered,
    offset,
    run,
    still,
    track,
    zone,
)


def watched(**spec: object) -> SceneAnalyzer:
    return analyser(zone(person_down=PersonDownSpec(**spec)))  # type: ignore[arg-type]


def lying(
    at: tuple[float, float] = INSIDE, state: TrackState = OBSERVED
) -> Callable[[float], list[Track]]:
    return still("p1", at, size=LYING, state=state)


def fall(at_s: float = 3.0, until_s: float = 20.0) -> Clip:
    """Standing in the zone, then lying on the floor from ``at_s`` on."""
    return Clip().span(0, at_s, still("p1")).span(at_s, until_s, lying())


def test_a_fall_is_raised_after_min_down_s_with_its_explanation() -> None:
    clip = fall(3.0)
    events = run(watched(min_down_s=5.0), clip)
    assert len(events) == 1
    event = events[0]
    assert event.kind is EventKind.PERSON_DOWN
    assert (event.zone, event.class_name, event.track_ids) == ("floor", "person", ("p1",))
    assert event.frame == clip.at(8.0)
    assert event.details == {
        "box_ratio": "5.556",
        "lying_ratio": "1.200",
        "down_s": "5.000",
        "min_down_s": "5.000",
        "speed": "0.000",
    }


def test_someone_never_seen_standing_is_not_a_fall() -> None:
    clip = Clip().span(0, 60, lying())
    assert run(watched(), clip) == []


def test_standing_seen_outside_the_zone_counts() -> None:
    walk = along((0.0, OUTSIDE), (1.0, OUTSIDE), (2.0, INSIDE))
    clip = (
        Clip()
        .span(0, 2, lambda t: [track("p1", walk(t))])
        .span(2, 3, still("p1"))
        .span(3, 10, lying())
    )
    assert [(offset(e), e.details["down_s"]) for e in run(watched(), clip)] == [(8.0, "5.000")]


def test_a_box_never_narrower_than_standing_ratio_never_stood() -> None:
    # 0.1 x 0.2 is 0.889 wide for its height: a person carrying something wide, or cut by
    # the frame edge; not clearly standing.
    clip = Clip().span(0, 3, still("p1", size=(0.1, 0.2))).span(3, 20, lying())
    assert run(watched(standing_ratio=0.8), clip) == []


def test_getting_up_before_min_down_s_is_not_raised() -> None:
    clip = Clip().span(0, 3, still("p1")).span(3, 7.9, lying()).span(7.9, 20, still("p1"))
    assert run(watched(min_down_s=5.0), clip) == []


def test_getting_up_restarts_the_time_down() -> None:
    clip = (
        Clip()
        .span(0, 3, still("p1"))
        .span(3, 6, lying())
        .span(6, 7, still("p1"))
        .span(7, 20, lying())
    )
    assert [(offset(e), e.details["down_s"]) for e in run(watched(), clip)] == [(12.0, "5.000")]


def test_a_crouching_box_is_not_lying() -> None:
    # 0.12 x 0.2: 1.067 wide for its height, below lying_ratio 1.2.
    clip = Clip().span(0, 3, still("p1")).span(3, 30, still("p1", size=(0.12, 0.2)))
    assert run(watched(), clip) == []


def test_a_wide_box_moving_fast_is_not_down() -> None:
    # Lying on a trolley pushed at 0.1/s through the zone.
    move = along((3.0, (0.3, 0.8)), (9.0, (0.9, 0.8)))
    clip = (
        Clip()
        .span(0, 3, still("p1", (0.3, 0.8)))
        .span(3, 9, lambda t: [track("p1", move(t), size=LYING)])
    )
    assert run(watched(max_speed=0.05), clip) == []


def test_a_jittering_body_on_the_floor_stays_down() -> None:
    rng = random.Random(5)
    clip = Clip().span(0, 3, still("p1"))
    clip.span(3, 20, lambda t: [track("p1", jittered(box_on(INSIDE, LYING), rng))])
    events = run(watched(), clip)
    assert [(offset(e), e.details["down_s"]) for e in events] == [(8.0, "5.000")]
    raised_on = next(f for f in clip.frames if f.frame == events[0].frame)
    ratio = pixel_ratio(raised_on.tracks[0].box, raised_on.frame)
    assert events[0].details["box_ratio"] == f"{ratio:.3f}"
    assert float(events[0].details["speed"]) < 0.05


def test_hidden_for_a_while_stays_down() -> None:
    clip = (
        Clip()
        .span(0, 3, still("p1"))
        .span(3, 4, lying())
        .span(4, 6, lying(state=LOST))
        .span(6, 20, lying())
    )
    assert [(offset(e), e.details["down_s"]) for e in run(watched(), clip)] == [(8.0, "5.000")]


def test_at_most_one_event_per_stay_and_again_after_re_entering() -> None:
    clip = (
        fall(3.0, 30.0)
        .span(30, 32, still("p1", OUTSIDE))
        .span(32, 33, still("p1"))
        .span(33, 50, lying())
    )
    events = run(watched(), clip)
    assert [(offset(e), e.details["down_s"]) for e in events] == [(8.0, "5.000"), (38.0, "5.000")]


def test_only_people_fall() -> None:
    clip = (
        Clip()
        .span(0, 3, still("d1", cls="dog", size=STANDING))
        .span(3, 20, still("d1", cls="dog", size=LYING))
    )
    assert run(watched(), clip) == []


def test_replay_gives_identical_events() -> None:
    first, second = run(watched(), fall()), run(watched(), fall())
    assert [offset(e) for e in first] == [8.0]
    assert first == second


def test_pixel_ratio_uses_the_frame_size_or_16_9() -> None:
    box = Box(0.0, 0.0, 0.1, 0.1)
    assert pixel_ratio(box, FrameRef(CAMERA, 0, 0.0, 1000, 1000)) == 1.0
    assert math.isclose(pixel_ratio(box, FrameRef(CAMERA, 0, 0.0, 768, 432)), 16 / 9)
    assert math.isclose(pixel_ratio(box, FrameRef(CAMERA, 0, 0.0)), 16 / 9)
    assert pixel_ratio(Box(0.1, 0.5, 0.2, 0.5), FrameRef(CAMERA, 0, 0.0, 768, 432)) == math.inf


# --- what real cameras do: feet cut off by the frame, detector misses ---------------------------
# As on the fall clip (tests/e2e): the camera cuts the person's feet off, so every box, standing
# or lying, ends at the bottom edge; the floor zone reaches that edge. Sizes are of that clip's
# boxes on a 640x480 frame, here on 768x432: standing 0.28 x 0.93, lying 0.33 x 0.27.

BOTTOM = Polygon.of([(0.0, 0.7), (1.0, 0.7), (1.0, 1.0), (0.0, 1.0)])
CUT_STANDING = (0.28, 0.93)  # 215 x 402 px: 0.535 wide for its height
CUT_LYING = (0.33, 0.27)  # 253 x 117 px: 2.173


def cut_at_the_bottom(size: tuple[float, float]) -> Callable[[float], list[Track]]:
    return still("p1", (0.52, 1.0), size=size)


def test_feet_cut_off_by_the_frame_still_make_a_fall() -> None:
    # The anchor sits on the frame's bottom edge, on the zone's outline: it is inside.
    clip = (
        Clip().span(0, 2, cut_at_the_bottom(CUT_STANDING)).span(2, 10, cut_at_the_bottom(CUT_LYING))
    )
    analyzer = analyser(zone(polygon=BOTTOM, person_down=PersonDownSpec(min_down_s=2.5)))
    events = run(analyzer, clip)
    assert [(offset(e), e.details["down_s"]) for e in events] == [(4.5, "2.500")]
    assert events[0].details["box_ratio"] == "2.173"


def missing(
    every: int, gap: int, make: Callable[[float], list[Track]]
) -> Callable[[float], list[Track]]:
    """``make``'s tracks, except on the last ``gap`` frames of every ``every`` (at 10 fps): frames
    on which the detector found nobody and the tracker published nothing for the person."""

    def tracks(t: float) -> list[Track]:
        return [] if round(t * 10) % every >= every - gap else make(t)

    return tracks


def test_the_detector_missing_two_or_three_frames_while_lying_keeps_the_time_down() -> None:
    for gap in (2, 3):
        # The last two or three frames of every second unseen, from the first lying frame on
        # (3.7-3.9, 4.7-4.9, ...): the time down still counts from 3.0.
        clip = Clip().span(0, 3, still("p1")).span(3, 20, missing(10, gap, lying()))
        events = run(watched(min_down_s=5.0), clip)
        assert [(offset(e), e.details["down_s"]) for e in events] == [(8.0, "5.000")], gap


def test_lost_for_a_few_frames_while_lying_keeps_the_time_down() -> None:
    # The tracker keeps the track through the misses as LOST, its box a prediction that
    # drifts; the rule ignores predicted boxes and counts the time down across them.
    drifting = along((5.0, INSIDE), (5.3, (0.6, 0.7)))
    clip = (
        Clip()
        .span(0, 3, still("p1"))
        .span(3, 5, lying())
        .span(5, 5.3, lambda t: [track("p1", drifting(t), size=STANDING, state=LOST)])
        .span(5.3, 20, lying())
    )
    assert [(offset(e), e.details["down_s"]) for e in run(watched(), clip)] == [(8.0, "5.000")]
