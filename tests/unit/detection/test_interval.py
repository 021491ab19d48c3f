"""The detection interval: which frames the model looks at, and k under load."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from vigie_detection.interval import (
    INTERVAL_FRAMES,
    INTERVAL_RAISED,
    MAX_CAMERAS,
    CameraInterval,
    DetectionInterval,
    IntervalSettings,
)

LIMIT_S = 2.0  # the camera's freshness limit: raise above 1.0 s of age, lower below 0.2 s


def looked(interval: DetectionInterval, camera: str, sequences: range | list[int]) -> list[int]:
    return [s for s in sequences if interval.look(camera, s, now=0.0)]


def test_one_frame_in_k_by_sequence_distance() -> None:
    interval = DetectionInterval(IntervalSettings(frames=3))
    assert looked(interval, "gate", range(10)) == [0, 3, 6, 9]
    assert looked(DetectionInterval(IntervalSettings()), "gate", range(4)) == [0, 1, 2, 3]


def test_dropped_frames_do_not_starve_the_model() -> None:
    """Capture dropped every frame whose sequence is a multiple of 3: still one in three
    looked at, never none."""
    interval = DetectionInterval(IntervalSettings(frames=3))
    arriving = [s for s in range(1, 30) if s % 3 != 0]
    chosen = looked(interval, "gate", arriving)
    assert chosen[0] == 1
    assert all(3 <= b - a <= 4 for a, b in itertools.pairwise(chosen))


def test_a_new_capture_session_is_looked_at_at_once() -> None:
    interval = DetectionInterval(IntervalSettings(frames=3))
    assert looked(interval, "gate", [100, 101, 102, 0, 1, 2, 3]) == [100, 0, 3]


def test_per_camera_interval() -> None:
    settings = IntervalSettings(frames=1, cameras={"car-park": CameraInterval(frames=2)})
    interval = DetectionInterval(settings)
    assert looked(interval, "car-park", range(6)) == [0, 2, 4]
    assert looked(interval, "street", range(3)) == [0, 1, 2]
    assert (interval.frames("car-park"), interval.frames("unseen")) == (2, 1)


def test_old_live_frames_raise_k_step_by_step_up_to_the_ceiling() -> None:
    interval = DetectionInterval(IntervalSettings(frames=1, max_frames=3, hold_s=2.0))
    steps = []
    for second in range(12):
        interval.look("gate", second, now=float(second), age_s=1.5, limit_s=LIMIT_S)
        steps.append(interval.frames("gate"))
    # One step at the first old frame, then at most one per hold_s, never above 3.
    assert steps[:5] == [2, 2, 3, 3, 3]
    assert max(steps) == 3
    assert INTERVAL_FRAMES.labels("detection", "gate")._value.get() == 3
    assert INTERVAL_RAISED.labels("detection", "gate")._value.get() == 2


def test_fresh_frames_bring_k_back_to_the_configured_one_after_holding() -> None:
    interval = DetectionInterval(IntervalSettings(frames=1, max_frames=2, hold_s=2.0))
    interval.look("gate", 0, now=0.0, age_s=1.5, limit_s=LIMIT_S)
    assert interval.frames("gate") == 2
    t, seq = 0.0, 1
    # Neither old nor fresh (0.5 s): k stays where it is.
    for _ in range(20):
        t, seq = t + 0.5, seq + 1
        interval.look("gate", seq, now=t, age_s=0.5, limit_s=LIMIT_S)
    assert interval.frames("gate") == 2
    # Fresh, but not yet for hold_s: still 2; then back to 1, and never below.
    for _ in range(3):
        t, seq = t + 0.5, seq + 1
        interval.look("gate", seq, now=t, age_s=0.05, limit_s=LIMIT_S)
    assert interval.frames("gate") == 2
    for _ in range(20):
        t, seq = t + 0.5, seq + 1
        interval.look("gate", seq, now=t, age_s=0.05, limit_s=LIMIT_S)
    assert interval.frames("gate") == 1


def test_no_automatic_change_when_the_ceiling_is_the_configured_k() -> None:
    interval = DetectionInterval(IntervalSettings(frames=2, max_frames=1))
    for second in range(10):
        interval.look("gate", second, now=float(second), age_s=1.9, limit_s=LIMIT_S)
    assert interval.frames("gate") == 2


def test_replays_keep_the_configured_k() -> None:
    """No age given (a replay): whatever its frames' times, k does not move."""
    interval = DetectionInterval(IntervalSettings(frames=2, max_frames=5))
    assert looked(interval, "gate", range(8)) == [0, 2, 4, 6]
    assert interval.frames("gate") == 2


def test_memory_is_bounded_by_the_cameras_remembered() -> None:
    interval = DetectionInterval(IntervalSettings(frames=2), stage="bounded")
    for n in range(MAX_CAMERAS + 50):
        interval.look(f"made-up-{n}", 0, now=0.0)
    assert len(interval._cameras) == MAX_CAMERAS
    # The oldest were forgotten: their next frame is looked at, as a first frame is.
    assert interval.look("made-up-0", 1, now=0.0)


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValidationError, match="lower_at"):
        IntervalSettings(raise_at=0.2, lower_at=0.3)
    with pytest.raises(ValidationError):
        IntervalSettings(frames=0)
    with pytest.raises(ValidationError):
        IntervalSettings(cameras={"gate": {"frames": 31}})
