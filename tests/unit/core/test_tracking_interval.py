"""Unit tests of carried frames (detection interval): the model looked at every k-th frame only,
and the tracker carries its tracks over the frames in between by prediction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest

from tests.unit.core.mutations import Mutation, delete_at, set_at
from tests.unit.core.test_tracking_snapshot import random_scene
from tests.unit.core.test_tracking_zone_time import MIDDLE
from vigie_core.tracking import CameraTracker, TrackerParams
from vigie_core.tracking.tracker import track_id_for
from vigie_core.types import Box, Detection, FrameDetections, FrameRef, FrameTracks, TrackState

CAMERA = "cam-1"
T0 = 1_700_000_000.0
DT = 0.1  # seconds between frames
W, H = 0.1, 0.2


def det(cx: float, cy: float = 0.5, conf: float = 0.9) -> Detection:
    return Detection(Box(cx - W / 2, cy - H / 2, cx + W / 2, cy + H / 2), "person", conf)


def frame(i: int, *detections: Detection, camera: str = CAMERA) -> FrameDetections:
    return FrameDetections(FrameRef(camera, i, T0 + DT * i), tuple(detections))


def carried(i: int, camera: str = CAMERA) -> FrameDetections:
    return FrameDetections(FrameRef(camera, i, T0 + DT * i), carried=True)


def walker(n: int, k: int, x0: float = 0.1, vx: float = 0.1) -> list[FrameDetections]:
    """One person walking right at ``vx`` frame widths per second, one frame every ``DT``,
    detected on frames 0, k, 2k, ... and carried on the others."""
    return [frame(i, det(x0 + vx * DT * i)) if i % k == 0 else carried(i) for i in range(n)]


def run(tracker: CameraTracker, frames: Sequence[FrameDetections]) -> list[FrameTracks]:
    return [tracker.update(f) for f in frames]


def with_carried_between(frames: Sequence[FrameDetections], n: int) -> list[FrameDetections]:
    """``frames`` with ``n`` carried frames inserted, evenly spaced, in every gap."""
    out: list[FrameDetections] = []
    for before, after in pairwise(frames):
        out.append(before)
        t0, t1 = before.frame.captured_at, after.frame.captured_at
        for j in range(1, n + 1):
            t = t0 + (t1 - t0) * j / (n + 1)
            out.append(FrameDetections(FrameRef(CAMERA, -1, t), carried=True))
    out.append(frames[-1])
    return out


# --- carrying by prediction ---------------------------------------------------------------------


def test_a_walker_detected_every_third_frame_keeps_one_id_and_moves_on_carried_frames() -> None:
    frames = walker(60, k=3)
    outs = run(CameraTracker(CAMERA), frames)

    # Confirmed on its third detection (frame 6); nothing published before, carried or not.
    assert all(not out.tracks for out in outs[:6])
    assert outs[6].tracks[0].state == TrackState.NEW
    published = outs[6:]
    assert all(len(out.tracks) == 1 for out in published)
    assert {out.tracks[0].track_id for out in published} == {track_id_for(CAMERA, T0, 0)}
    for i, out in enumerate(published, start=6):
        (track,) = out.tracks
        assert track.state == (TrackState.NEW if i == 6 else TrackState.TRACKED)
        assert track.hits == i // 3 + 1  # carried frames count no hit
        assert track.first_seen == T0

    # On carried frames the box lies strictly between those of the detected frames around it,
    # and moves on from one carried frame to the next.
    x = [out.tracks[0].box.centre[0] for out in outs[9:]]
    for start in range(0, len(x) - 3, 3):
        before, first, second, after = x[start : start + 4]
        assert before + 0.005 < first < second - 0.005
        assert second + 0.005 < after
    # The prediction follows the walker: within a few thousandths of where it really is.
    for i, out in enumerate(outs[30:], start=30):
        assert out.tracks[0].box.centre[0] == pytest.approx(0.1 + 0.1 * DT * i, abs=0.005)
        assert out.tracks[0].velocity[0] == pytest.approx(0.1, abs=0.01)


def test_a_carried_frame_is_checked_and_moves_the_clock() -> None:
    tracker = CameraTracker(CAMERA)
    run(tracker, walker(5, k=3))
    assert tracker.last_time == T0 + DT * 4
    with pytest.raises(ValueError, match="strictly increase"):
        tracker.update(carried(4))
    with pytest.raises(ValueError, match="got a frame of camera"):
        tracker.update(carried(5, camera="cam-2"))


def test_carried_frames_before_any_detection_publish_nothing() -> None:
    tracker = CameraTracker(CAMERA)
    assert run(tracker, [carried(0), carried(1)]) == [
        FrameTracks(frame=carried(i).frame) for i in (0, 1)
    ]
    outs = run(tracker, walker(12, k=1)[2:])
    assert outs[2].tracks[0].track_id == track_id_for(CAMERA, T0 + DT * 2, 0)


@pytest.mark.parametrize("seed", [1, 2, 5, 8])
@pytest.mark.parametrize("n", [1, 2])
def test_carried_frames_change_nothing_on_the_detected_frames(seed: int, n: int) -> None:
    """Nobody looked on a carried frame, so a tracker fed the same detected frames with carried
    ones in between matches, confirms, loses and ends exactly the same tracks: a track matched
    on the previous detected frame is still *tracked* (second round, unwidened gate)."""
    plain = random_scene(seed)
    frames = with_carried_between(plain, n)
    expected = run(CameraTracker(CAMERA), plain)
    got = [out for out in run(CameraTracker(CAMERA), frames) if out.frame.sequence >= 0]

    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert [(t.track_id, t.state, t.hits) for t in mine.tracks] == [
            (t.track_id, t.state, t.hits) for t in theirs.tracks
        ]
        for a, b in zip(mine.tracks, theirs.tracks, strict=True):
            assert (a.box.x1, a.box.y1, a.box.x2, a.box.y2) == pytest.approx(
                (b.box.x1, b.box.y1, b.box.x2, b.box.y2), abs=1e-4
            )
    # Tracks may end on a carried frame (the lost buffer is time): the same ones, in order.
    ended = [s.track_id for out in run(CameraTracker(CAMERA), frames) for s in out.ended]
    assert ended and ended == [s.track_id for out in expected for s in out.ended]


def _confirmed_walker(k: int) -> tuple[CameraTracker, str]:
    """A tracker holding one confirmed walker, matched on frame 12, with frames 13.. carried
    when ``k`` is 3 (absent at k 1, where frame 13 comes next)."""
    tracker = CameraTracker(CAMERA)
    outs = run(tracker, walker(13 if k == 1 else 15, k=k))
    return tracker, outs[-1].tracks[0].track_id


@pytest.mark.parametrize("k", [1, 3])
def test_a_weak_detection_after_carried_frames_continues_the_track(k: int) -> None:
    """Second round: a weak detection only continues a track matched on the previous detected
    frame. Carried frames in between do not make the track lost."""
    tracker, track_id = _confirmed_walker(k)
    i = 13 if k == 1 else 15
    out = tracker.update(frame(i, det(0.1 + 0.1 * DT * i, conf=0.5)))
    (track,) = out.tracks
    assert (track.track_id, track.state, track.confidence) == (
        track_id,
        TrackState.TRACKED,
        pytest.approx(0.5),
    )


def test_after_carried_frames_a_tracked_track_keeps_its_strict_gate() -> None:
    """A lost track's gate widens with the time unseen; one matched on the previous detected
    frame is not lost, however many carried frames passed, and keeps the plain IoU gate. A
    detection 0.06 beside the prediction (IoU 0.25 < 0.3) would match a lost track after
    0.3 s (boxes widened by 30% on each side: IoU 0.45) but not this one."""
    tracker, track_id = _confirmed_walker(3)
    out = tracker.update(frame(15, det(0.1 + 0.1 * DT * 15 + 0.06)))
    (track,) = out.tracks  # the detection starts a tentative track, not published
    assert (track.track_id, track.state) == (track_id, TrackState.LOST)
    # On the carried frames that follow, the track shows as it was left: LOST.
    assert [t.state for t in tracker.update(carried(16)).tracks] == [TrackState.LOST]


# --- lifecycle over carried frames --------------------------------------------------------------


def test_tentative_tracks_survive_carried_frames_and_drop_on_a_detected_miss() -> None:
    tracker = CameraTracker(CAMERA)  # min_hits 3
    outs = run(tracker, walker(7, k=3))  # detected on 0, 3, 6
    assert all(not out.tracks for out in outs[:6])
    (track,) = outs[6].tracks
    assert (track.track_id, track.state, track.hits) == (
        track_id_for(CAMERA, T0, 0),
        TrackState.NEW,
        3,
    )

    # Born on frame 7, carried over 8 and 9, missed on the detected frame 10: dropped, so the
    # same place on frame 13 starts another track.
    tracker = CameraTracker(CAMERA)
    run(tracker, [frame(7, det(0.5)), carried(8), carried(9), frame(10), carried(11)])
    assert tracker.snapshot()["tracks"] == []
    run(tracker, [carried(12), frame(13, det(0.5))])
    (born,) = tracker.snapshot()["tracks"]
    assert born["track_id"] == track_id_for(CAMERA, T0 + DT * 13, 0)


def test_the_lost_buffer_ends_a_track_on_a_carried_frame() -> None:
    params = TrackerParams(lost_buffer_s=0.45)
    tracker = CameraTracker(CAMERA, params)
    frames = walker(10, k=3)  # last detection on frame 9
    outs = run(tracker, frames)
    track_id = outs[-1].tracks[0].track_id
    # Frames 10, 11 carried: TRACKED (matched on 9). Frame 12 detected, empty: LOST.
    states = [out.tracks[0].state for out in run(tracker, [carried(10), carried(11), frame(12)])]
    assert states == [TrackState.TRACKED, TrackState.TRACKED, TrackState.LOST]
    # Frame 13 carried: 0.4 s unseen, kept and LOST. Frame 14 carried: 0.5 s > 0.45 s, ended.
    assert [t.state for t in tracker.update(carried(13)).tracks] == [TrackState.LOST]
    last = tracker.update(carried(14))
    assert last.tracks == ()
    (summary,) = last.ended
    assert (summary.track_id, summary.last_seen, summary.hits) == (track_id, T0 + DT * 9, 4)


def test_paths_speeds_and_zone_times_count_observations_only() -> None:
    """A walker inside the middle zone, detected every third frame, last seen on frame 18 and
    then only carried until the lost buffer ends it: the predictions after frame 18 (inside the
    zone too) add no time, no path point and no speed."""
    params = TrackerParams(path_interval_s=0.0, lost_buffer_s=0.5)
    tracker = CameraTracker(CAMERA, params, zones=(MIDDLE,))
    frames = [
        frame(i, det(0.44 + 0.005 * i, cy=0.4)) if i % 3 == 0 else carried(i) for i in range(19)
    ]
    frames += [carried(i) for i in range(19, 25)]
    ended = [s for out in run(tracker, frames) for s in out.ended]
    (summary,) = ended
    assert summary.hits == 7
    assert [t for t, _, _ in summary.path] == pytest.approx([T0 + DT * i for i in range(0, 19, 3)])
    assert summary.seconds_in_zone == {"middle": pytest.approx(1.8)}
    assert summary.mean_speed == pytest.approx(0.05, rel=0.05)
    assert summary.max_speed == pytest.approx(0.05, rel=0.1)


# --- snapshots ----------------------------------------------------------------------------------


def _interval_scene(seed: int, k: int = 3) -> list[FrameDetections]:
    """A busy random scene in which only every k-th frame was looked at."""
    return [
        f if i % k == 0 else FrameDetections(f.frame, carried=True)
        for i, f in enumerate(random_scene(seed))
    ]


@pytest.mark.parametrize("seed", [1, 4])
def test_restore_mid_interval_answers_like_the_uninterrupted_tracker(seed: int) -> None:
    frames = _interval_scene(seed)
    original = CameraTracker(CAMERA)
    outputs, snapshots = [], {}
    for i, f in enumerate(frames):
        outputs.append(original.update(f))
        snapshots[i] = json.dumps(original.snapshot(), allow_nan=False)
    resumed_any = False
    for i in range(20, len(frames) - 1, 7):
        state = json.loads(snapshots[i])
        mid_interval = frames[i].carried
        assert ("last_detected" in state) == mid_interval
        resumed = CameraTracker.restore(state)
        assert run(resumed, frames[i + 1 :]) == outputs[i + 1 :], f"resumed after frame {i}"
        resumed_any |= mid_interval and bool(state["tracks"])
    assert resumed_any


def test_a_snapshot_without_last_detected_reads_as_taken_on_a_detected_frame() -> None:
    """Snapshots written before carried frames existed never have the key, and a release that
    predates it drops it: either way the tracker resumes every identity, its last frame read as
    detected (the walker, matched 0.2 s earlier, counts as lost for one frame)."""
    tracker, track_id = _confirmed_walker(3)
    snapshot = json.loads(json.dumps(tracker.snapshot()))
    assert snapshot["last_detected"] == T0 + DT * 12
    del snapshot["last_detected"]
    resumed = CameraTracker.restore(snapshot)
    assert resumed.snapshot() == snapshot  # last detected frame = last frame, as before
    weak = frame(15, det(0.1 + 0.1 * DT * 15, conf=0.5))
    assert [(t.track_id, t.state) for t in resumed.update(weak).tracks] == [
        (track_id, TrackState.LOST)
    ]
    confident = frame(18, det(0.1 + 0.1 * DT * 18))
    assert [(t.track_id, t.state) for t in resumed.update(confident).tracks] == [
        (track_id, TrackState.TRACKED)
    ]


def test_snapshots_without_carried_frames_keep_their_layout() -> None:
    tracker = CameraTracker(CAMERA)
    run(tracker, random_scene(3, n_frames=40))
    assert set(tracker.snapshot()) == {"version", "camera_id", "last_time", "tracks"}
    tracker.update(FrameDetections(FrameRef(CAMERA, 40, tracker.last_time + 1.0), carried=True))  # type: ignore[operator]
    assert set(tracker.snapshot()) == {
        "version",
        "camera_id",
        "last_time",
        "tracks",
        "last_detected",
    }
    tracker.flush()
    assert set(tracker.snapshot()) == {"version", "camera_id", "last_time", "tracks"}


def test_only_carried_frames_so_far_restore_to_no_detected_frame() -> None:
    tracker = CameraTracker(CAMERA)
    run(tracker, [carried(0), carried(1)])
    snapshot = json.loads(json.dumps(tracker.snapshot()))
    assert snapshot["last_detected"] is None
    resumed = CameraTracker.restore(snapshot)
    frames = walker(12, k=3)[2:]
    assert run(resumed, frames) == run(tracker, frames)


def _mid_interval_snapshot() -> dict[str, Any]:
    tracker, _ = _confirmed_walker(3)
    return json.loads(json.dumps(tracker.snapshot()))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (set_at("last_detected", "then"), "last_detected: expected a number"),
        (set_at("last_detected", T0 + 10.0), "last_detected: .* is after last_time"),
        (set_at("last_detected", None), "last_detected: live tracks but no detected frame"),
        (set_at("last_detected", T0), r"tracks\[0\]: times out of order"),
        (delete_at("last_time"), "missing key 'last_time'"),
    ],
)
def test_a_bad_last_detected_is_refused(mutate: Mutation, message: str) -> None:
    snapshot = _mid_interval_snapshot()
    mutate(snapshot)
    with pytest.raises(ValueError, match=message):
        CameraTracker.restore(snapshot)
