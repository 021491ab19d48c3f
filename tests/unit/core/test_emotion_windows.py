"""Aggregate emotion: per zone and window, only above the faces floor, nothing per person."""

from __future__ import annotations

import pytest

from vigie_core.emotion import EMOTIONS, EmotionWindows, WindowSpec
from vigie_core.types import EventKind, FrameRef

HAPPY = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
NEUTRAL = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def frame(t: float, seq: int = 0) -> FrameRef:
    return FrameRef("cam-1", seq, t, 640, 360)


def test_a_window_is_summarised_per_zone_on_the_first_frame_after_it() -> None:
    windows = EmotionWindows(WindowSpec(window_s=60.0, min_faces=3))
    assert windows.add(frame(120.0), [("hall", HAPPY), ("hall", HAPPY)]) == []
    assert windows.add(frame(150.0), [("hall", NEUTRAL), ("door", HAPPY)]) == []
    (event,) = windows.add(frame(181.5, 7), [("hall", HAPPY)])  # next window
    assert event.kind is EventKind.EMOTION_SUMMARY
    assert (event.zone, event.frame.sequence, event.track_ids) == ("hall", 7, ())
    assert event.details["faces"] == "3"
    assert (event.details["happy"], event.details["neutral"]) == ("0.667", "0.333")
    assert event.details["window_start"] == "120.000"
    # Only the aggregate: counts, window, one mean per emotion. Nothing about a face.
    assert set(event.details) == {"faces", "min_faces", "window_start", "window_s", *EMOTIONS}


def test_a_zone_below_the_faces_floor_gets_no_figure() -> None:
    windows = EmotionWindows(WindowSpec(window_s=10.0, min_faces=5))
    windows.add(frame(0.0), [("hall", HAPPY)] * 4 + [("door", HAPPY)] * 5)
    assert [e.zone for e in windows.add(frame(10.0), [])] == ["door"]


def test_windows_follow_frame_times_even_across_gaps() -> None:
    windows = EmotionWindows(WindowSpec(window_s=10.0, min_faces=2))
    windows.add(frame(3.0), [("", HAPPY)] * 2)
    (event,) = windows.add(frame(95.0), [])  # camera down for a while: one summary, not nine
    assert event.details["window_start"] == "0.000" and event.zone == ""
    assert windows.add(frame(105.0), []) == []  # the window of 90 s had no face


def test_probabilities_must_cover_the_seven_expressions() -> None:
    windows = EmotionWindows(WindowSpec())
    with pytest.raises(ValueError, match="7 probabilities"):
        windows.add(frame(0.0), [("hall", [1.0, 0.0])])


@pytest.mark.parametrize(("window_s", "min_faces"), [(0.0, 5), (60.0, 1), (60.0, 2.5)])
def test_bad_parameters_are_refused(window_s: float, min_faces: int) -> None:
    with pytest.raises(ValueError, match="emotion"):
        WindowSpec(window_s, min_faces)
