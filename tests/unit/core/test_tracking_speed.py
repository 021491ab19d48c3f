"""Unit tests of track speeds: the meter alone, and what the tracker's summaries report."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from itertools import pairwise

import pytest

from vigie_core.tracking import CameraTracker, TrackerParams
from vigie_core.tracking.speed import SpeedMeter
from vigie_core.types import Box, Detection, FrameDetections, FrameRef, TrackSummary

CAMERA = "cam-1"
T0 = 1_700_000_000.0


def det(cx: float, bottom: float, cls: str = "car", w: float = 0.1, h: float = 0.08) -> Detection:
    """A detection whose bottom-centre (the anchor speeds are measured on) is (cx, bottom)."""
    return Detection(Box(cx - w / 2, bottom - h, cx + w / 2, bottom), cls, 0.9)


def frame(t: float, *detections: Detection, seq: int = 0) -> FrameDetections:
    return FrameDetections(FrameRef(CAMERA, seq, t), tuple(detections))


def summary_of(frames: Sequence[FrameDetections], params: TrackerParams) -> TrackSummary:
    tracker = CameraTracker(CAMERA, params)
    for f in frames:
        tracker.update(f)
    (summary,) = tracker.flush()
    return summary


def crossing(
    times: Sequence[float], velocity: tuple[float, float], noise: float = 0.0, seed: int = 0
) -> list[FrameDetections]:
    """One object moving at constant ``velocity`` (frame units per second) from (0.1, 0.3),
    seen at ``times`` (seconds after T0), its box jittered by ``noise`` (standard deviation)."""
    rng = random.Random(seed)
    vx, vy = velocity
    return [
        frame(
            T0 + t,
            det(0.1 + vx * t + rng.gauss(0, noise), 0.3 + vy * t + rng.gauss(0, noise)),
            seq=i,
        )
        for i, t in enumerate(times)
    ]


def irregular_times(duration: float, seed: int) -> list[float]:
    """Frame times with jittered intervals and bursts of dropped frames (gaps up to 0.6 s)."""
    rng = random.Random(seed)
    times, t = [], 0.0
    while t <= duration:
        times.append(t)
        t += rng.choice([0.04, 0.04, 0.04, 0.1, 0.2, 0.6]) * rng.uniform(0.7, 1.3)
    return times


# --- the meter ----------------------------------------------------------------------------------


def test_meter_at_constant_velocity_reads_that_speed_mean_and_peak() -> None:
    meter = SpeedMeter(window_s=0.5)
    for i in range(51):  # 0.3 units/s along x and 0.4 along y: 0.5 units/s
        t = 0.1 * i
        meter.add(T0 + t, 0.1 + 0.3 * t, 0.2 + 0.4 * t)
    assert meter.mean() == pytest.approx(0.5, rel=1e-9)
    assert meter.peak() == pytest.approx(0.5, rel=1e-9)


def test_meter_divides_by_real_time_whatever_the_intervals() -> None:
    meter = SpeedMeter(window_s=0.5)
    for t in irregular_times(10.0, seed=4):
        meter.add(T0 + t, 0.05 + 0.08 * t, 0.5)
    # (epoch-scale times carry about 1e-7 s of rounding, hence the tolerance)
    assert meter.mean() == pytest.approx(0.08, rel=1e-6)
    assert meter.peak() == pytest.approx(0.08, rel=1e-6)


def test_meter_peak_is_the_fastest_window_not_the_fastest_frame() -> None:
    # Still for 2 s, then 0.4 units/s for 1 s, then still again; every frame jitters by
    # +-0.01 (alternating), which frame to frame at 25 fps reads as 0.5 units/s.
    meter = SpeedMeter(window_s=0.5)
    for i in range(126):
        t = 0.04 * i
        moved = 0.4 * min(max(t - 2.0, 0.0), 1.0)
        meter.add(T0 + t, 0.2 + moved + (0.01 if i % 2 else -0.01), 0.5)
    # A 0.5 s window sees at most 0.02 of jitter: 0.04 units/s on top of the real speed.
    assert 0.4 <= meter.peak() <= 0.45
    # Moving 1 s out of 5: a fifth of 0.4 plus at most 0.04 of jitter.
    assert 0.08 <= meter.mean() <= 0.125


def test_meter_counts_distance_covered_not_net_displacement() -> None:
    # Back and forth over 0.2 units every second, for 4 s: back where it started.
    meter = SpeedMeter(window_s=0.5)
    for i in range(41):
        t = 0.1 * i
        phase = t % 2.0
        meter.add(T0 + t, 0.4 + (0.2 * phase if phase <= 1.0 else 0.2 * (2.0 - phase)), 0.5)
    assert meter.mean() == pytest.approx(0.2, rel=1e-6)


def test_a_track_shorter_than_a_window_has_one_speed_both_ways() -> None:
    meter = SpeedMeter(window_s=0.5)
    for i in range(4):  # 0.3 s
        meter.add(T0 + 0.1 * i, 0.5 + 0.03 * i, 0.5)
    assert meter.mean() == pytest.approx(0.3)
    assert meter.peak() == meter.mean()


def test_one_observation_or_none_is_no_speed() -> None:
    meter = SpeedMeter(window_s=0.5)
    assert (meter.mean(), meter.peak()) == (0.0, 0.0)
    meter.add(T0, 0.5, 0.5)
    assert (meter.mean(), meter.peak()) == (0.0, 0.0)


def test_meter_state_resumes_exactly() -> None:
    rng = random.Random(3)
    points = [(T0 + t, rng.random(), rng.random()) for t in irregular_times(6.0, seed=9)]
    whole = SpeedMeter(0.5)
    for p in points:
        whole.add(*p)
    for k in (0, 1, 5, 17, len(points) - 2):
        first = SpeedMeter(0.5)
        for p in points[: k + 1]:
            first.add(*p)
        resumed = SpeedMeter.read(json.loads(json.dumps(first.state())), "speed", 0.5)
        for p in points[k + 1 :]:
            resumed.add(*p)
        assert (resumed.mean(), resumed.peak()) == (whole.mean(), whole.peak())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("distance", -1.0, r"speed\.distance: expected a number >= 0"),
        ("peak", math.inf, r"speed\.peak: expected a finite number"),
        ("start", [T0, 0.5], r"speed\.start: expected 3 numbers"),
        ("recent", "[]", r"speed\.recent: expected a list"),
        ("recent", [[T0 + 1, 0.5, 0.5], [T0, 0.5, 0.5]], "times must strictly increase"),
        ("start", None, "both a window start and recent points, or neither"),
    ],
)
def test_meter_state_is_checked(key: str, value: object, message: str) -> None:
    meter = SpeedMeter(0.5)
    meter.add(T0, 0.5, 0.5)
    state = meter.state()
    state[key] = value
    with pytest.raises(ValueError, match=message):
        SpeedMeter.read(state, "speed", 0.5)


# --- through the tracker ------------------------------------------------------------------------

PARAMS = TrackerParams(min_hits=3, lost_buffer_s=1.5)


def test_constant_velocity_gives_that_speed_in_the_summary() -> None:
    # 0.15 units/s along x and 0.05 down, for 4 s at 10 fps
    summary = summary_of(crossing([0.1 * i for i in range(41)], (0.15, 0.05)), PARAMS)
    expected = math.hypot(0.15, 0.05)
    assert summary.mean_speed == pytest.approx(expected, rel=0.03)
    assert summary.max_speed == pytest.approx(expected, rel=0.05)
    assert summary.max_speed >= summary.mean_speed


@pytest.mark.parametrize("seed", range(5))
def test_irregular_intervals_and_dropped_frames_do_not_change_the_speed(seed: int) -> None:
    summary = summary_of(crossing(irregular_times(6.0, seed), (0.12, 0.0)), PARAMS)
    assert summary.mean_speed == pytest.approx(0.12, rel=0.03)
    assert summary.max_speed == pytest.approx(0.12, rel=0.08)


@pytest.mark.parametrize("seed", range(5))
def test_box_jitter_does_not_blow_up_the_peak(seed: int) -> None:
    # Boxes wander by 0.004 (3 pixels on a 768-pixel frame) around an object at 0.1 units/s,
    # seen at 25 fps: frame to frame that jitter alone reads as about 0.14 units/s.
    times = [0.04 * i for i in range(151)]
    frames = crossing(times, (0.1, 0.0), noise=0.004, seed=seed)
    summary = summary_of(frames, PARAMS)
    assert summary.mean_speed == pytest.approx(0.1, abs=0.02)
    assert summary.max_speed <= 0.13
    # what frame-to-frame differences of the raw anchors would have reported
    anchors = [(f.frame.captured_at, f.detections[0].box.bottom_centre) for f in frames]
    naive = max(math.dist(p, q) / (tq - tp) for (tp, p), (tq, q) in pairwise(anchors))
    assert naive > 2 * summary.max_speed


def test_standing_still_is_about_zero() -> None:
    frames = crossing([0.04 * i for i in range(100)], (0.0, 0.0), noise=0.003, seed=1)
    summary = summary_of(frames, PARAMS)
    assert summary.mean_speed < 0.02 and summary.max_speed < 0.03


def test_speed_spans_a_lost_gap_at_the_average_speed_over_it() -> None:
    # seen for 2 s, hidden for 1 s (LOST, same id), seen for 2 s: speed unchanged
    times = [0.1 * i for i in range(51) if not 20 <= i < 30]
    summary = summary_of(crossing(times, (0.1, 0.0)), PARAMS)
    assert summary.mean_speed == pytest.approx(0.1, rel=0.03)
    assert summary.max_speed == pytest.approx(0.1, rel=0.05)


def test_the_window_is_a_parameter() -> None:
    with pytest.raises(ValueError, match="speed_window_s must be > 0"):
        TrackerParams(speed_window_s=0.0)
