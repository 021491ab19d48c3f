"""Unit tests of the per-camera tracker (pure: no broker, no clock)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from vigie_core.ids import millis
from vigie_core.tracking import CameraTracker, TrackerParams, kalman
from vigie_core.tracking.association import (
    associate,
    boxes_to_array,
    buffered_iou_matrix,
    iou_matrix,
)
from vigie_core.tracking.kalman import BoxKalmanFilter
from vigie_core.tracking.tracker import PathSampler, majority_class
from vigie_core.types import (
    Box,
    Detection,
    FrameDetections,
    FrameRef,
    FrameTracks,
    TrackState,
)

CAMERA = "cam-1"
T0 = 1_700_000_000.0
W, H = 0.1, 0.2  # default object size, normalised


# --- builders -----------------------------------------------------------------------------------


def det(
    cx: float,
    cy: float,
    cls: str = "person",
    conf: float = 0.9,
    w: float = W,
    h: float = H,
) -> Detection:
    """A detection centred on (cx, cy)."""
    return Detection(Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), cls, conf)


def frame(t: float, *detections: Detection, camera: str = CAMERA, seq: int = 0) -> FrameDetections:
    return FrameDetections(FrameRef(camera, seq, t), tuple(detections))


def moving(
    times: Iterable[float], x0: float, vx: float, y: float = 0.5, cls: str = "person"
) -> list[FrameDetections]:
    """One object moving horizontally at constant speed, one frame per time (times relative to
    T0)."""
    return [frame(T0 + t, det(x0 + vx * t, y, cls), seq=i) for i, t in enumerate(times)]


def run(tracker: CameraTracker, frames: Sequence[FrameDetections]) -> list[FrameTracks]:
    return [tracker.update(f) for f in frames]


def ids_of(out: FrameTracks) -> list[str]:
    return [t.track_id for t in out.tracks]


def regular(n: int, dt: float = 0.1) -> list[float]:
    return [i * dt for i in range(n)]


# --- identity over time -------------------------------------------------------------------------


def test_single_object_at_constant_speed_keeps_one_id_over_50_frames() -> None:
    tracker = CameraTracker(CAMERA)
    outs = run(tracker, moving(regular(50), x0=0.1, vx=0.15))

    published = [out for out in outs if out.tracks]
    assert len(published) == 48  # confirmed on the third frame
    assert {tid for out in published for tid in ids_of(out)} == {published[0].tracks[0].track_id}
    assert all(len(out.tracks) == 1 for out in published)
    assert [out.tracks[0].state for out in published] == [TrackState.NEW] + [
        TrackState.TRACKED
    ] * 47

    last = outs[-1].tracks[0]
    assert last.hits == 50
    assert last.first_seen == T0
    assert last.velocity == pytest.approx((0.15, 0.0), abs=0.01)
    assert last.box.centre == pytest.approx((0.1 + 0.15 * 4.9, 0.5), abs=0.005)


@pytest.mark.parametrize("dy", [0.02, 0.05])
@pytest.mark.parametrize("speed", [0.2, 0.4])
def test_two_crossing_objects_keep_their_ids(dy: float, speed: float) -> None:
    tracker = CameraTracker(CAMERA)
    times = regular(int(0.8 / speed * 10) + 1)  # long enough for both to cross 0.8 of the width
    frames = [
        frame(
            T0 + t,
            det(0.1 + speed * t, 0.5),  # left to right
            det(0.9 - speed * t, 0.5 + dy),  # right to left
            seq=i,
        )
        for i, t in enumerate(times)
    ]
    outs = run(tracker, frames)

    first = {t.track_id: t.box.centre[0] for t in outs[2].tracks}
    last = {t.track_id: t.box.centre[0] for t in outs[-1].tracks}
    assert len(first) == 2 and set(first) == set(last)
    for track_id, x_start in first.items():
        # whichever started on the left ended on the right, and vice versa
        assert (x_start < 0.5) == (last[track_id] > 0.5)
    assert all(len(out.tracks) == 2 for out in outs[2:])
    assert all(t.state != TrackState.LOST for out in outs[3:] for t in out.tracks)


# --- lifecycle ----------------------------------------------------------------------------------


@pytest.mark.parametrize("min_hits", [1, 2, 3, 5])
def test_confirmation_after_min_hits_and_nothing_published_before(min_hits: int) -> None:
    tracker = CameraTracker(CAMERA, TrackerParams(min_hits=min_hits))
    outs = run(tracker, moving(regular(8), x0=0.2, vx=0.1))

    assert all(not out.tracks for out in outs[: min_hits - 1])
    confirmed = outs[min_hits - 1].tracks
    assert len(confirmed) == 1
    assert confirmed[0].state == TrackState.NEW
    assert confirmed[0].hits == min_hits
    assert confirmed[0].first_seen == T0
    assert all(out.tracks[0].state == TrackState.TRACKED for out in outs[min_hits:])


def test_tentative_track_that_misses_is_dropped_without_summary() -> None:
    tracker = CameraTracker(CAMERA)
    outs = run(
        tracker,
        [
            frame(T0, det(0.5, 0.5)),
            frame(T0 + 0.1, det(0.5, 0.5)),
            frame(T0 + 0.2),  # miss before confirmation
            frame(T0 + 0.3, det(0.5, 0.5)),
            frame(T0 + 0.4, det(0.5, 0.5)),
            frame(T0 + 0.5, det(0.5, 0.5)),
        ],
    )
    assert all(not out.tracks and not out.ended for out in outs[:5])
    (track,) = outs[5].tracks
    assert track.state == TrackState.NEW
    assert track.first_seen == T0 + 0.3  # a new track, not the dropped one
    assert track.track_id == f"{CAMERA}/{millis(T0 + 0.3):x}-0"


def test_confirmed_track_wins_over_a_duplicate_born_from_its_own_miss() -> None:
    # A detection jumps off a still object for one frame (IoU with the track < 0.3), starting a
    # tentative duplicate; the next detection overlaps both, the duplicate more.
    xs = [0.5] * 5 + [0.57, 0.54] + [0.5] * 3
    tracker = CameraTracker(CAMERA)
    outs = run(tracker, [frame(T0 + 0.1 * i, det(x, 0.5)) for i, x in enumerate(xs)])

    assert len({tid for out in outs for tid in ids_of(out)}) == 1
    assert [t.state for t in outs[5].tracks] == [TrackState.LOST]
    assert [t.state for t in outs[6].tracks] == [TrackState.TRACKED]
    assert outs[-1].tracks[0].hits == len(xs) - 1


def _with_gap(gap_frames: int, after: int = 10) -> list[FrameDetections]:
    """An object seen for 2 s at 10 fps, absent for ``gap_frames`` frames (which still arrive,
    empty), then seen again where constant speed puts it."""
    frames = []
    for i in range(20 + gap_frames + after):
        t = i * 0.1
        visible = i < 20 or i >= 20 + gap_frames
        detections = (det(0.1 + 0.1 * t, 0.5),) if visible else ()
        frames.append(frame(T0 + t, *detections, seq=i))
    return frames


def test_track_survives_gap_shorter_than_lost_buffer() -> None:
    tracker = CameraTracker(CAMERA, TrackerParams(lost_buffer_s=1.5))
    outs = run(tracker, _with_gap(gap_frames=10))  # 1.1 s without a match

    track_id = outs[2].tracks[0].track_id
    gap = outs[20:30]
    assert all(ids_of(out) == [track_id] for out in outs[2:])
    assert all(out.tracks[0].state == TrackState.LOST for out in gap)
    # while lost, the box is the prediction: it keeps moving with the object
    predicted_x = [out.tracks[0].box.centre[0] for out in gap]
    assert predicted_x == sorted(predicted_x)
    assert predicted_x[-1] == pytest.approx(0.1 + 0.1 * 2.9, abs=0.01)
    assert outs[30].tracks[0].state == TrackState.TRACKED
    assert outs[30].tracks[0].hits == 21
    assert not any(out.ended for out in outs)


def test_track_ends_after_gap_longer_than_lost_buffer_with_summary() -> None:
    tracker = CameraTracker(CAMERA, TrackerParams(lost_buffer_s=1.5))
    outs = run(tracker, _with_gap(gap_frames=25))  # 2.6 s without a match

    track_id = outs[2].tracks[0].track_id
    last_seen = T0 + 1.9
    ending = [i for i, out in enumerate(outs) if out.ended]
    assert ending == [35]  # first frame more than 1.5 s after the last match (t = 3.5 s)
    (summary,) = outs[35].ended
    assert summary.track_id == track_id
    assert summary.camera_id == CAMERA
    assert summary.class_name == "person"
    assert summary.first_seen == T0
    assert summary.last_seen == last_seen
    assert summary.hits == 20
    assert summary.mean_confidence == pytest.approx(0.9)
    assert all(out.tracks[0].state == TrackState.LOST for out in outs[20:35])
    assert track_id not in ids_of(outs[35])
    # the object coming back later is a new track
    assert outs[-1].tracks and all(tid != track_id for tid in ids_of(outs[-1]))


def test_tracks_leaving_the_frame_report_clipped_predictions() -> None:
    tracker = CameraTracker(CAMERA)
    frames = moving(regular(10), x0=0.7, vx=0.3)
    frames += [frame(T0 + 1.0 + 0.1 * i, seq=10 + i) for i in range(14)]  # object has left
    outs = run(tracker, frames)

    lost = [t for out in outs[10:] for t in out.tracks]
    assert lost and all(t.state == TrackState.LOST for t in lost)
    for t in lost:
        assert 0.0 <= t.box.x1 <= t.box.x2 <= 1.0
        assert 0.0 <= t.box.y1 <= t.box.y2 <= 1.0


# --- confidence rounds and births ---------------------------------------------------------------

DEFAULTS = TrackerParams()
# Between the default low_confidence and high_confidence, whatever they are.
WEAK = round((DEFAULTS.low_confidence + DEFAULTS.high_confidence) / 2, 3)


def _confident_then(conf: float, n_confident: int = 5, n_after: int = 5) -> list[FrameDetections]:
    """One object moving right: confident detections, then detections of ``conf``."""
    return [
        frame(T0 + 0.1 * i, det(0.2 + 0.01 * i, 0.5, conf=0.95 if i < n_confident else conf))
        for i in range(n_confident + n_after)
    ]


def test_weak_detections_continue_a_tracked_track() -> None:
    outs = run(CameraTracker(CAMERA), _confident_then(WEAK))
    track_id = outs[2].tracks[0].track_id
    assert all(ids_of(out) == [track_id] for out in outs[2:])
    assert [t.state for out in outs[5:] for t in out.tracks] == [TrackState.TRACKED] * 5
    assert outs[-1].tracks[0].confidence == WEAK
    assert outs[-1].tracks[0].hits == 10


def test_detections_below_low_confidence_do_not_continue_a_track() -> None:
    above_weak = TrackerParams(low_confidence=(WEAK + DEFAULTS.high_confidence) / 2)
    outs = run(CameraTracker(CAMERA, above_weak), _confident_then(WEAK))
    assert [t.state for out in outs[5:] for t in out.tracks] == [TrackState.LOST] * 5


def test_weak_detections_never_start_a_track() -> None:
    tracker = CameraTracker(CAMERA)
    outs = run(tracker, [frame(T0 + 0.1 * i, det(0.5, 0.5, conf=WEAK)) for i in range(10)])
    assert all(not out.tracks for out in outs)
    assert tracker.snapshot()["tracks"] == []


def test_weak_detections_do_not_revive_a_lost_track_confident_ones_do() -> None:
    frames = _confident_then(0.95, n_confident=5, n_after=0)
    frames.append(frame(T0 + 0.5))  # missed: the track is lost from here
    frames += [frame(T0 + 0.1 * i, det(0.2 + 0.01 * i, 0.5, conf=WEAK)) for i in (6, 7)]
    frames.append(frame(T0 + 0.8, det(0.28, 0.5, conf=0.95)))
    outs = run(CameraTracker(CAMERA), frames)
    track_id = outs[2].tracks[0].track_id
    assert [(t.track_id, t.state) for t in outs[5].tracks] == [(track_id, TrackState.LOST)]
    assert [(t.track_id, t.state) for t in outs[7].tracks] == [(track_id, TrackState.LOST)]
    assert [(t.track_id, t.state) for t in outs[8].tracks] == [(track_id, TrackState.TRACKED)]


def test_confident_detections_are_offered_first() -> None:
    # On the last frame a weak detection sits exactly on the prediction and a confident one a
    # little off it: the track takes the confident one, and the weak one starts nothing.
    frames = [frame(T0 + 0.1 * i, det(0.5, 0.5)) for i in range(5)]
    frames.append(frame(T0 + 0.5, det(0.5, 0.5, conf=WEAK), det(0.53, 0.5, conf=0.95)))
    tracker = CameraTracker(CAMERA)
    (track,) = run(tracker, frames)[-1].tracks
    assert track.state == TrackState.TRACKED
    assert track.confidence == 0.95
    assert len(tracker.snapshot()["tracks"]) == 1


def test_a_score_equal_to_the_thresholds_passes_them_after_32_bit_rounding() -> None:
    # Detections cross the wire as 32-bit floats: 0.9 arrives as 0.89999998.
    score = float(np.float32(0.9))
    assert score < 0.9
    params = TrackerParams(low_confidence=0.9, high_confidence=0.9, birth_confidence=0.9)
    frames = [frame(T0 + 0.1 * i, det(0.5, 0.5, conf=score)) for i in range(3)]
    assert [t.state for t in run(CameraTracker(CAMERA, params), frames)[-1].tracks] == [
        TrackState.NEW
    ]


def test_birth_needs_birth_confidence_but_matching_only_high_confidence() -> None:
    params = TrackerParams(high_confidence=0.6, birth_confidence=0.8)
    below_birth = [frame(T0 + 0.1 * i, det(0.5, 0.5, conf=0.7)) for i in range(5)]
    assert all(not out.tracks for out in run(CameraTracker(CAMERA, params), below_birth))

    # born at 0.85, confirmed and continued by detections of 0.7 (>= high_confidence)
    frames = [frame(T0, det(0.5, 0.5, conf=0.85)), *below_birth[1:]]
    outs = run(CameraTracker(CAMERA, params), frames)
    assert outs[-1].tracks[0].hits == 5
    assert outs[-1].tracks[0].state == TrackState.TRACKED


# --- lost tracks ------------------------------------------------------------------------------


def _reappears_off_course(dy: float) -> list[FrameDetections]:
    """Seen for 2 s moving right, unseen for 0.5 s, then back ``dy`` lower than where constant
    speed puts it (it sidestepped while hidden)."""
    frames = [frame(T0 + 0.1 * i, det(0.1 + 0.01 * i, 0.4), seq=i) for i in range(20)]
    frames += [frame(T0 + 0.1 * i, seq=i) for i in range(20, 25)]
    frames += [frame(T0 + 0.1 * i, det(0.1 + 0.01 * i, 0.4 + dy), seq=i) for i in range(25, 30)]
    return frames


def test_a_lost_track_is_found_off_its_prediction_within_the_widened_gate() -> None:
    frames = _reappears_off_course(dy=0.12)  # plain IoU with the prediction about 0.25 < 0.3
    outs = run(CameraTracker(CAMERA), frames)
    assert len({tid for out in outs for tid in ids_of(out)}) == 1
    assert outs[25].tracks[0].state == TrackState.TRACKED

    strict = run(CameraTracker(CAMERA, TrackerParams(lost_margin_per_s=0.0)), frames)
    assert [t.state for t in strict[25].tracks] == [TrackState.LOST]  # and a tentative twin
    assert len({tid for out in strict for tid in ids_of(out)}) == 2


def test_the_gate_widens_only_once_a_track_is_lost() -> None:
    # The same sidestep without a gap. On the frame of the jump the track matched on the
    # previous frame, so its gate is the plain one: it misses (and a tentative twin starts).
    # On the next frame it is lost, its gate widened, and as a confirmed track it is offered
    # the object before the twin.
    frames = [frame(T0 + 0.1 * i, det(0.1 + 0.01 * i, 0.4 if i < 20 else 0.52)) for i in range(24)]
    outs = run(CameraTracker(CAMERA), frames)
    track_id = outs[2].tracks[0].track_id
    assert [(t.track_id, t.state) for t in outs[20].tracks] == [(track_id, TrackState.LOST)]
    assert [(t.track_id, t.state) for t in outs[21].tracks] == [(track_id, TrackState.TRACKED)]
    assert all(ids_of(out) == [track_id] for out in outs[2:])


# --- time ---------------------------------------------------------------------------------------


def test_irregular_intervals_still_associate() -> None:
    # After a regular start, intervals alternate 0.4 s and 0.05 s. At 0.4 /s the object jumps
    # 0.16 (more than its width) across a long interval: only a prediction in real seconds
    # still overlaps it.
    times = [*regular(10, dt=0.05), 0.85, 0.9, 1.3, 1.35, 1.75, 1.8]
    speed = 0.4
    tracker = CameraTracker(CAMERA)
    outs = run(tracker, moving(times, x0=0.05, vx=speed))

    jump = speed * (times[-2] - times[-3])
    assert jump > W  # consecutive detections across a long interval do not overlap
    assert len({tid for out in outs for tid in ids_of(out)}) == 1
    assert all(out.tracks[0].state != TrackState.LOST for out in outs[2:])
    assert outs[-1].tracks[0].hits == len(times)
    assert outs[-1].tracks[0].velocity[0] == pytest.approx(speed, abs=0.03)


def test_dropped_frames_are_bridged_by_real_elapsed_time() -> None:
    times = [t for i, t in enumerate(regular(40)) if i < 10 or i % 3 == 0]
    tracker = CameraTracker(CAMERA)
    outs = run(tracker, moving(times, x0=0.05, vx=0.2))
    assert len({tid for out in outs for tid in ids_of(out)}) == 1
    assert all(out.tracks[0].state != TrackState.LOST for out in outs[2:])
    assert outs[-1].tracks[0].hits == len(times)


@pytest.mark.parametrize("delta", [0.0, -0.1])
def test_time_not_moving_forward_raises(delta: float) -> None:
    tracker = CameraTracker(CAMERA)
    tracker.update(frame(T0, det(0.5, 0.5)))
    with pytest.raises(ValueError, match="strictly increase"):
        tracker.update(frame(T0 + delta, det(0.5, 0.5)))
    assert tracker.last_time == T0  # the rejected frame changed nothing
    tracker.update(frame(T0 + 0.1, det(0.5, 0.5)))
    assert tracker.last_time == T0 + 0.1


def test_first_frame_sets_the_clock_and_reset_forgets_everything() -> None:
    tracker = CameraTracker(CAMERA, TrackerParams(min_hits=1))
    assert tracker.last_time is None
    out = tracker.update(frame(T0, det(0.5, 0.5)))
    assert out.tracks[0].velocity == (0.0, 0.0)
    assert tracker.last_time == T0

    tracker.reset()
    assert tracker.last_time is None
    out = tracker.update(frame(T0 - 10.0, det(0.2, 0.5)))  # earlier time is fine after reset
    assert [t.box.centre[0] for t in out.tracks] == [pytest.approx(0.2)]


def test_frame_of_another_camera_raises() -> None:
    with pytest.raises(ValueError, match="cam-2"):
        CameraTracker(CAMERA).update(frame(T0, camera="cam-2"))


# --- ids ----------------------------------------------------------------------------------------


def _two_objects() -> list[FrameDetections]:
    return [
        frame(
            T0 + t,
            det(0.5, 0.2, conf=0.1),  # below min_confidence: ignored, but keeps index 0
            det(0.1 + 0.2 * t, 0.5),
            det(0.8, 0.7, cls="car", w=0.2, h=0.1),
            seq=i,
        )
        for i, t in enumerate(regular(20))
    ]


def test_ids_are_deterministic_across_fresh_trackers_and_namespaced_by_camera() -> None:
    first = run(CameraTracker(CAMERA), _two_objects())
    second = run(CameraTracker(CAMERA), _two_objects())
    assert first == second
    assert ids_of(first[-1]) == [f"{CAMERA}/{millis(T0):x}-1", f"{CAMERA}/{millis(T0):x}-2"]

    other = run(CameraTracker("cam-2"), [replace_camera(f, "cam-2") for f in _two_objects()])
    assert all(tid.startswith("cam-2/") for tid in ids_of(other[-1]))


def replace_camera(f: FrameDetections, camera: str) -> FrameDetections:
    return FrameDetections(
        FrameRef(camera, f.frame.sequence, f.frame.captured_at), f.detections, f.model
    )


def test_low_confidence_detections_are_ignored() -> None:
    params = TrackerParams(
        min_hits=1, low_confidence=0.5, high_confidence=0.5, birth_confidence=0.5
    )
    tracker = CameraTracker(CAMERA, params)
    out = tracker.update(frame(T0, det(0.5, 0.5, conf=0.49), det(0.2, 0.5, conf=0.5)))
    assert [t.box.centre[0] for t in out.tracks] == [pytest.approx(0.2)]
    assert out.tracks[0].confidence == 0.5


def test_empty_frames_and_no_tracks() -> None:
    tracker = CameraTracker(CAMERA)
    for i in range(3):
        f = frame(T0 + i, seq=i)
        assert tracker.update(f) == FrameTracks(frame=f.frame, tracks=(), ended=())


# --- classes ------------------------------------------------------------------------------------


def test_classes_do_not_cross_match() -> None:
    tracker = CameraTracker(CAMERA)
    outs = run(tracker, moving(regular(5), x0=0.3, vx=0.1))
    person_id = outs[-1].tracks[0].track_id

    # the same place now reported as a car: the person is lost, the car is a new tentative track
    cars = [frame(T0 + t, det(0.3 + 0.1 * t, 0.5, cls="car")) for t in (0.5, 0.6, 0.7)]
    outs = run(tracker, cars)
    assert [(t.track_id, t.state) for t in outs[0].tracks] == [(person_id, TrackState.LOST)]
    assert [(t.class_name, t.state) for t in outs[2].tracks] == [
        ("person", TrackState.LOST),
        ("car", TrackState.NEW),
    ]


def test_overlapping_objects_of_different_classes_are_separate_tracks() -> None:
    tracker = CameraTracker(CAMERA)
    frames = [
        frame(T0 + t, det(0.4 + 0.1 * t, 0.5, "person"), det(0.4 + 0.1 * t, 0.5, "bicycle"))
        for t in regular(6)
    ]
    out = run(tracker, frames)[-1]
    assert sorted(t.class_name for t in out.tracks) == ["bicycle", "person"]
    assert all(t.state == TrackState.TRACKED and t.hits == 6 for t in out.tracks)


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        (["car"], "car"),
        (["car", "truck", "car"], "car"),
        (["truck", "car", "car", "truck", "car"], "car"),
        (["truck", "car"], "truck"),  # tie: first seen wins
        (["car", "truck", "truck", "car"], "car"),
    ],
)
def test_majority_vote_class(votes: list[str], expected: str) -> None:
    assert majority_class(Counter(votes)) == expected


def test_summary_class_is_the_majority_of_matched_detections() -> None:
    tracker = CameraTracker(CAMERA, TrackerParams(lost_buffer_s=0.2))
    frames = [*moving(regular(6), x0=0.3, vx=0.1, cls="car"), frame(T0 + 1.0)]
    (summary,) = run(tracker, frames)[-1].ended
    assert summary.class_name == "car"
    assert summary.hits == 6


# --- path ---------------------------------------------------------------------------------------


def test_summary_path_is_downsampled_bottom_centre() -> None:
    tracker = CameraTracker(CAMERA, TrackerParams(path_interval_s=0.5, lost_buffer_s=0.5))
    frames = [*moving(regular(23), x0=0.1, vx=0.2, y=0.4), frame(T0 + 3.0)]
    (summary,) = run(tracker, frames)[-1].ended

    times = [round(t - T0, 6) for t, _, _ in summary.path]
    assert times == [0.0, 0.5, 1.0, 1.5, 2.0, 2.2]  # every 0.5 s, plus the last sighting
    for t, x, y in summary.path:
        assert x == pytest.approx(0.1 + 0.2 * (t - T0), abs=0.01)
        assert y == pytest.approx(0.4 + H / 2, abs=0.01)  # bottom of the box


def test_summary_path_is_capped() -> None:
    params = TrackerParams(path_interval_s=0.1, max_path_points=6, lost_buffer_s=0.5)
    frames = [*moving(regular(40), x0=0.1, vx=0.02), frame(T0 + 5.0)]
    (summary,) = run(CameraTracker(CAMERA, params), frames)[-1].ended
    assert 2 <= len(summary.path) <= 6
    assert summary.path[0][0] == T0
    assert summary.path[-1][0] == pytest.approx(T0 + 3.9)
    assert [p[0] for p in summary.path] == sorted(p[0] for p in summary.path)


@pytest.mark.parametrize("max_points", [2, 3, 10, 500])
def test_path_sampler_bounds_memory_and_keeps_both_ends(max_points: int) -> None:
    sampler = PathSampler(interval_s=0.0, max_points=max_points)
    for i in range(1000):
        sampler.add(float(i), 0.0, 0.0)
    points = sampler.points()
    assert len(points) <= max_points
    assert points[0][0] == 0.0 and points[-1][0] == 999.0


# --- parameters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_hits": 0},
        {"lost_buffer_s": -1.0},
        {"match_iou": 1.5},
        {"second_match_iou": -0.1},
        {"low_confidence": -0.1},
        {"high_confidence": 1.1, "birth_confidence": 1.1},
        {"low_confidence": 0.8, "high_confidence": 0.7, "birth_confidence": 0.9},
        {"high_confidence": 0.9, "birth_confidence": 0.8},
        {"lost_margin_per_s": -0.5},
        {"path_interval_s": -0.5},
        {"max_path_points": 1},
    ],
)
def test_invalid_params_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TrackerParams(**kwargs)  # type: ignore[arg-type]


# --- building blocks ----------------------------------------------------------------------------


def test_iou_matrix_agrees_with_box_iou() -> None:
    rng = random.Random(7)

    def random_box() -> Box:
        x1, y1 = rng.random() * 0.8, rng.random() * 0.8
        return Box(x1, y1, x1 + rng.random() * 0.3, y1 + rng.random() * 0.3)

    a = [random_box() for _ in range(7)]
    b = [random_box() for _ in range(5)] + a[:2]
    matrix = iou_matrix(boxes_to_array(a), boxes_to_array(b))
    expected = np.array([[x.iou(y) for y in b] for x in a])
    np.testing.assert_allclose(matrix, expected, atol=1e-12)
    assert iou_matrix(boxes_to_array([]), boxes_to_array(b)).shape == (0, 7)
    assert iou_matrix(boxes_to_array(a), boxes_to_array([])).shape == (7, 0)


def test_association_is_gated_by_iou_and_class() -> None:
    boxes = [det(0.2, 0.5).box, det(0.6, 0.5).box]
    result = associate(
        boxes,
        ["person", "person"],
        [det(0.61, 0.5).box, det(0.2, 0.5, "car").box, det(0.9, 0.5).box],
        ["person", "car", "person"],
        min_iou=0.3,
    )
    assert result.matches == ((1, 0),)
    assert result.unmatched_tracks == (0,)
    assert result.unmatched_detections == (1, 2)
    empty = associate([], [], boxes, ["a", "b"], 0.3)
    assert empty.matches == () and empty.unmatched_detections == (0, 1)


def test_kalman_prediction_depends_only_on_elapsed_time() -> None:
    """Process noise follows dt: two half steps equal one full step, longer is vaguer."""
    whole, halves = BoxKalmanFilter(det(0.3, 0.5).box), BoxKalmanFilter(det(0.3, 0.5).box)
    for f in (whole, halves):
        f.update(det(0.3, 0.5).box)
    whole.predict(1.0)
    halves.predict(0.5)
    halves.predict(0.5)
    np.testing.assert_allclose(whole.state, halves.state)
    np.testing.assert_allclose(whole.covariance, halves.covariance, rtol=1e-9, atol=1e-15)
    short = BoxKalmanFilter(det(0.3, 0.5).box)
    short.update(det(0.3, 0.5).box)
    short.predict(0.1)
    assert short.covariance[0, 0] < whole.covariance[0, 0]  # uncertainty grows with dt


def test_buffered_iou_widens_both_boxes_of_each_track() -> None:
    rng = random.Random(3)

    def random_box() -> Box:
        x1, y1 = rng.random() * 0.8, rng.random() * 0.8
        return Box(x1, y1, x1 + rng.random() * 0.2, y1 + rng.random() * 0.2)

    a = boxes_to_array([random_box() for _ in range(6)])
    b = boxes_to_array([random_box() for _ in range(4)])
    np.testing.assert_allclose(buffered_iou_matrix(a, b, np.zeros(6)), iou_matrix(a, b))
    np.testing.assert_allclose(buffered_iou_matrix(a, a, np.full(6, 0.7)).diagonal(), 1.0)

    near = boxes_to_array([Box(0.0, 0.0, 0.1, 0.2), Box(0.0, 0.0, 0.1, 0.2)])
    apart = boxes_to_array([Box(0.12, 0.0, 0.22, 0.2)])  # a gap of 0.02 between them
    widened = buffered_iou_matrix(near, apart, np.array([0.0, 0.5]))
    assert widened[0, 0] == 0.0
    # each widened to 0.2 x 0.4: they overlap over 0.08 of their 0.2 width
    assert widened[1, 0] == pytest.approx(0.08 * 0.4 / (2 * 0.2 * 0.4 - 0.08 * 0.4))


def test_stacked_filter_rows_match_single_box_filters() -> None:
    """The tracker filters all tracks at once; each row must be the filter of its own box."""
    boxes = [det(0.2, 0.5).box, det(0.6, 0.3, w=0.05, h=0.3).box, det(0.8, 0.8, w=0.2).box]
    later = [det(0.22, 0.5).box, det(0.61, 0.31, w=0.05, h=0.3).box, det(0.78, 0.8, w=0.2).box]
    singles = [BoxKalmanFilter(b) for b in boxes]
    mean, blocks = kalman.initiate(kalman.boxes_to_measurements(boxes_to_array(boxes)))
    for f, b in zip(singles, later, strict=True):
        f.predict(0.1)
        f.update(b)
    mean, blocks = kalman.predict(mean, blocks, 0.1)
    mean, blocks = kalman.update(mean, blocks, kalman.boxes_to_measurements(boxes_to_array(later)))
    for row, f in enumerate(singles):
        assert mean[row].tolist() == f.state.tolist()
        assert kalman.blocks_to_covariance(blocks[row]).tolist() == f.covariance.tolist()


def _textbook_filter(boxes: Sequence[Box], dts: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The same filter written with full 8x8 matrices (F, Q, H, R), as a reference."""
    z = [kalman.box_to_measurement(b) for b in boxes]
    accel = kalman._ACCEL_STD
    measure = kalman._MEASURE_STD
    init = kalman._INIT_STD

    def scales(x: np.ndarray) -> np.ndarray:
        return np.array([x[3], x[3], x[2], x[3]])

    x = np.concatenate([z[0], np.zeros(4)])
    p = np.diag((init * np.tile(scales(x), 2)) ** 2)
    h = np.eye(4, 8)
    for zi, dt in zip(z[1:], dts, strict=True):
        f = np.eye(8)
        f[:4, 4:] = dt * np.eye(4)
        d = np.diag((accel * scales(x)) ** 2)
        q = np.block([[d * dt**3 / 3, d * dt**2 / 2], [d * dt**2 / 2, d * dt]])
        x = f @ x
        p = f @ p @ f.T + q
        r = np.diag((measure * scales(x)) ** 2)
        s = h @ p @ h.T + r
        k = p @ h.T @ np.linalg.inv(s)
        x = x + k @ (zi - h @ x)
        p = (np.eye(8) - k @ h) @ p
    return x, p


def test_block_filter_is_the_full_matrix_filter() -> None:
    """Per quantity blocks are exact: the 8x8 filter never couples two quantities."""
    rng = random.Random(5)
    boxes = [
        det(0.3 + 0.02 * i + rng.gauss(0, 0.003), 0.5, w=0.1 + 0.002 * i).box for i in range(8)
    ]
    dts = [rng.choice([0.04, 0.1, 0.3]) for _ in boxes[1:]]
    f = BoxKalmanFilter(boxes[0])
    for b, dt in zip(boxes[1:], dts, strict=True):
        f.predict(dt)
        f.update(b)
    x, p = _textbook_filter(boxes, dts)
    np.testing.assert_allclose(f.state, x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f.covariance, p, rtol=1e-7, atol=1e-15)
