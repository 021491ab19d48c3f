"""Unit tests of tracker snapshots (restart and rebalance resume) and of ``flush``."""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest

from tests.unit.core.mutations import Mutation, delete_at, set_at
from vigie_core.tracking import CameraTracker, TrackerParams
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
CLASSES = ("person", "car", "bicycle")


# --- builders -----------------------------------------------------------------------------------


def det(cx: float, cy: float, cls: str = "person", conf: float = 0.9, w: float = 0.1) -> Detection:
    h = 2 * w
    return Detection(Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), cls, conf)


def frame(t: float, *detections: Detection, seq: int = 0) -> FrameDetections:
    return FrameDetections(FrameRef(CAMERA, seq, t), tuple(detections))


def run(tracker: CameraTracker, frames: Sequence[FrameDetections]) -> list[FrameTracks]:
    return [tracker.update(f) for f in frames]


def through_json(tracker: CameraTracker, params: TrackerParams | None = None) -> CameraTracker:
    """What the service does: snapshot, bytes on a topic, parse, restore."""
    wire = json.dumps(tracker.snapshot(), allow_nan=False)
    return CameraTracker.restore(json.loads(wire), params)


def random_scene(seed: int, n_frames: int = 150) -> list[FrameDetections]:
    """Several objects crossing the frame with box noise, missed detections, occlusions both
    shorter and longer than the lost buffer, detections of every confidence band (ignored,
    weak, confident, able to start a track), spurious detections, the odd wrong class,
    shuffled detection order and irregular frame intervals (dropped frames, jitter)."""
    rng = random.Random(seed)
    objects = []
    for _ in range(rng.randint(4, 7)):
        start = rng.randint(0, n_frames // 2)
        gap_start = rng.randint(start, n_frames)
        objects.append(
            {
                "start": start,
                "end": rng.randint(start + 5, n_frames + 20),
                "gap": (gap_start, gap_start + rng.choice([0, 3, 8, 12, 25])),
                "x": rng.uniform(0.1, 0.9),
                "y": rng.uniform(0.2, 0.8),
                "vx": rng.uniform(-0.15, 0.15),
                "vy": rng.uniform(-0.05, 0.05),
                "w": rng.uniform(0.05, 0.15),
                "cls": rng.choice(CLASSES),
            }
        )
    frames, t = [], T0
    for i in range(n_frames):
        t += rng.choice([0.04, 0.1, 0.1, 0.1, 0.2, 0.35]) * rng.uniform(0.8, 1.2)
        detections = []
        for ob in objects:
            if not ob["start"] <= i < ob["end"] or ob["gap"][0] <= i < ob["gap"][1]:
                continue
            if rng.random() < 0.1:  # missed detection
                continue
            age = t - T0
            cls = rng.choice(CLASSES) if rng.random() < 0.05 else ob["cls"]
            detections.append(
                det(
                    ob["x"] + ob["vx"] * age + rng.gauss(0, 0.004),
                    ob["y"] + ob["vy"] * age + rng.gauss(0, 0.004),
                    cls,
                    conf=_confidence(rng),
                    w=ob["w"] * rng.uniform(0.95, 1.05),
                )
            )
        if rng.random() < 0.15:  # spurious
            detections.append(
                det(rng.random(), rng.random(), rng.choice(CLASSES), conf=_confidence(rng))
            )
        rng.shuffle(detections)
        frames.append(frame(t, *detections, seq=i))
    return frames


def _confidence(rng: random.Random) -> float:
    """Mostly confident, as a detector is on clear views, with a tail of weak scores."""
    return rng.uniform(0.9, 1.0) if rng.random() < 0.7 else rng.uniform(0.3, 0.9)


def assert_resumes_identically(
    frames: Sequence[FrameDetections], ks: Sequence[int], params: TrackerParams | None = None
) -> list[FrameTracks]:
    """For each k: a tracker restored after frame k answers frames k+1.. exactly like the one
    that never stopped. Returns the uninterrupted outputs."""
    params = params or TrackerParams()
    original = CameraTracker(CAMERA, params)
    outputs, snapshots = [], {}
    for i, f in enumerate(frames):
        outputs.append(original.update(f))
        if i in ks:
            snapshots[i] = json.dumps(original.snapshot(), allow_nan=False)
    for k, wire in snapshots.items():
        resumed = CameraTracker.restore(json.loads(wire), params)
        assert resumed.last_time == frames[k].frame.captured_at
        # exact equality: JSON carries floats at full precision, so nothing may drift
        assert run(resumed, frames[k + 1 :]) == outputs[k + 1 :], f"diverged after k={k}"
    return outputs


# --- round trip ---------------------------------------------------------------------------------


# Seed 3 is left out: its objects stay mostly outside the frame and never give the three
# consecutive confident detections a track needs, so it exercises nothing.
@pytest.mark.parametrize("seed", [0, 1, 2, 4, 5, 6, 7, 8])
def test_resumed_tracker_gives_identical_outputs_on_a_random_scene(seed: int) -> None:
    frames = random_scene(seed)
    probe = run(CameraTracker(CAMERA), frames)
    lost = [i for i, out in enumerate(probe) if any(t.state == TrackState.LOST for t in out.tracks)]
    new = [i for i, out in enumerate(probe) if any(t.state == TrackState.NEW for t in out.tracks)]
    assert lost and new, "scene must exercise LOST gaps and confirmations"
    ks = sorted({0, 1, 2, 5, 40, 75, 110, len(frames) - 2, *lost[::4], *new[::2]})
    outputs = assert_resumes_identically(frames, ks)
    assert any(out.ended for out in outputs[min(ks) + 1 :])


@pytest.mark.parametrize("k", range(0, 50))
def test_resume_at_every_frame_of_a_lost_gap_and_around_confirmation(k: int) -> None:
    # seen for 1 s at 10 fps (confirmed at frame 2), unseen for 1.2 s (LOST, frames 10..21),
    # back under the same id, then gone for good (ends some 1.5 s after frame 29)
    frames = [
        frame(T0 + 0.1 * i, *([det(0.2 + 0.01 * i, 0.5)] if i < 10 or 22 <= i < 30 else []))
        for i in range(50)
    ]
    outputs = assert_resumes_identically(frames, [k])
    track_id = outputs[2].tracks[0].track_id
    assert outputs[2].tracks[0].state == TrackState.NEW
    assert [t.state for t in outputs[15].tracks] == [TrackState.LOST]
    assert [(t.track_id, t.state) for t in outputs[22].tracks] == [(track_id, TrackState.TRACKED)]
    assert [s.track_id for out in outputs[:45] for s in out.ended] == []
    assert [s.track_id for out in outputs[45:] for s in out.ended] == [track_id]


@pytest.mark.parametrize("k", range(0, 34))
def test_resume_at_every_frame_of_weak_matches_and_a_lost_track_refound_off_course(k: int) -> None:
    # confident for 1 s, weak (second round) for 0.5 s, unseen for 0.5 s, then back 0.12 lower
    # than its prediction: found again only through the lost track's widened gate
    def at(i: int) -> list[Detection]:
        if i < 10:
            return [det(0.2 + 0.01 * i, 0.4, conf=0.95)]
        if i < 15:
            return [det(0.2 + 0.01 * i, 0.4, conf=0.6)]
        if i < 20:
            return []
        return [det(0.2 + 0.01 * i, 0.52, conf=0.95)]

    frames = [frame(T0 + 0.1 * i, *at(i), seq=i) for i in range(34)]
    outputs = assert_resumes_identically(frames, [k])
    track_id = outputs[2].tracks[0].track_id
    assert [t.state for t in outputs[12].tracks] == [TrackState.TRACKED]
    assert [t.state for t in outputs[17].tracks] == [TrackState.LOST]
    assert [(t.track_id, t.state) for t in outputs[20].tracks] == [(track_id, TrackState.TRACKED)]


@pytest.mark.parametrize(
    "params",
    [
        TrackerParams(lost_margin_per_s=0.0),
        TrackerParams(min_hits=1, high_confidence=0.5, birth_confidence=0.6, low_confidence=0.3),
        TrackerParams(min_hits=2, lost_buffer_s=0.5, second_match_iou=0.3, match_iou=0.2),
    ],
)
def test_resumed_tracker_is_identical_under_other_params(params: TrackerParams) -> None:
    frames = random_scene(11)
    assert_resumes_identically(frames, [0, 3, 30, 60, 90, 120, len(frames) - 2], params)


def test_path_sampler_state_survives_including_halving() -> None:
    # a tiny path budget halves the path several times before and after the snapshot
    params = TrackerParams(path_interval_s=0.1, max_path_points=4, lost_buffer_s=0.3)
    frames = [
        frame(T0 + 0.1 * i, *([det(0.1 + 0.02 * i, 0.5)] if i < 35 else [])) for i in range(40)
    ]
    for k in (3, 7, 16, 20, 34):
        outputs = assert_resumes_identically(frames, [k], params)
    (summary,) = [s for out in outputs for s in out.ended]
    assert len(summary.path) <= 4
    assert summary.path[-1][0] == pytest.approx(T0 + 3.4)


@pytest.mark.parametrize("first", ["car", "truck"])
def test_class_vote_order_is_kept_so_ties_resolve_the_same(first: str) -> None:
    # Matching is gated by class, so a live track only collects one class today; the order is
    # still part of the state, as majority_class breaks ties by it.
    params = TrackerParams(min_hits=1, lost_buffer_s=0.2)
    tracker = CameraTracker(CAMERA, params)
    run(tracker, [frame(T0, det(0.5, 0.5, "car")), frame(T0 + 0.1, det(0.5, 0.5, "car"))])
    snapshot = json.loads(json.dumps(tracker.snapshot()))
    assert snapshot["tracks"][0]["votes"] == [["car", 2]]
    other = "truck" if first == "car" else "car"
    snapshot["tracks"][0]["votes"] = [[first, 1], [other, 1]]
    resumed = CameraTracker.restore(snapshot, params)
    assert resumed.snapshot()["tracks"][0]["votes"] == [[first, 1], [other, 1]]
    (summary,) = resumed.update(frame(T0 + 1.0)).ended
    assert summary.class_name == first


def test_fresh_tracker_snapshot_restores_fresh() -> None:
    snapshot = CameraTracker(CAMERA).snapshot()
    assert snapshot == {"version": 1, "camera_id": CAMERA, "last_time": None, "tracks": []}
    resumed = through_json(CameraTracker(CAMERA))
    assert resumed.camera_id == CAMERA and resumed.last_time is None
    frames = random_scene(3, n_frames=40)
    assert run(resumed, frames) == run(CameraTracker(CAMERA), frames)


def test_restored_clock_refuses_earlier_frames() -> None:
    tracker = CameraTracker(CAMERA)
    run(tracker, [frame(T0 + 0.1 * i, det(0.5, 0.5)) for i in range(4)])
    resumed = through_json(tracker)
    with pytest.raises(ValueError, match="strictly increase"):
        resumed.update(frame(T0 + 0.3, det(0.5, 0.5)))


# --- format -------------------------------------------------------------------------------------


def _plain_json(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or type(value) in (str, int, bool)


def _busy_tracker() -> CameraTracker:
    tracker = CameraTracker(CAMERA)
    run(tracker, random_scene(1)[:60])
    return tracker


def test_snapshot_is_plain_json_with_the_documented_keys() -> None:
    tracker = _busy_tracker()
    snapshot = tracker.snapshot()
    assert _plain_json(snapshot)
    assert set(snapshot) == {"version", "camera_id", "last_time", "tracks"}
    assert snapshot["version"] == 1
    assert {tr["confirmed"] for tr in snapshot["tracks"]} == {True, False}  # tentative kept too
    for tr in snapshot["tracks"]:
        assert set(tr) == {
            "track_id",
            "confirmed",
            "first_seen",
            "last_seen",
            "hits",
            "votes",
            "confidence_sum",
            "last_confidence",
            "mean",
            "covariance",
            "path",
            "speed",
            "zone_time",
            "colour_votes",
        }
        assert len(tr["mean"]) == 8
        assert [len(row) for row in tr["covariance"]] == [8] * 8
        assert set(tr["path"]) == {"doublings", "kept", "latest"}
        assert set(tr["speed"]) == {"start", "distance", "duration", "peak", "recent"}
        assert set(tr["zone_time"]) == {"last_time", "inside", "seconds"}


def test_snapshot_shares_nothing_with_the_tracker() -> None:
    tracker = _busy_tracker()
    snapshot = tracker.snapshot()
    kept = copy.deepcopy(snapshot)
    tracker.update(frame(tracker.last_time + 0.1))  # type: ignore[operator]
    assert snapshot == kept
    snapshot["tracks"][0]["mean"][0] = 0.0
    snapshot["tracks"][0]["path"]["kept"].clear()
    assert tracker.snapshot()["tracks"][0]["mean"][0] != 0.0


def test_params_come_from_the_caller_not_the_snapshot() -> None:
    tracker = CameraTracker(CAMERA, TrackerParams(lost_buffer_s=5.0))
    run(tracker, [frame(T0 + 0.1 * i, det(0.5, 0.5)) for i in range(5)])
    assert through_json(tracker).params == TrackerParams()
    short = through_json(tracker, TrackerParams(lost_buffer_s=0.2))
    assert short.params.lost_buffer_s == 0.2
    assert len(short.update(frame(T0 + 1.0)).ended) == 1  # would still be LOST at 5 s


def test_restore_under_a_smaller_path_budget_thins_the_path() -> None:
    tracker = CameraTracker(CAMERA, TrackerParams(path_interval_s=0.1, lost_buffer_s=0.2))
    run(tracker, [frame(T0 + 0.1 * i, det(0.1 + 0.01 * i, 0.5)) for i in range(30)])
    assert len(tracker.snapshot()["tracks"][0]["path"]["kept"]) == 30
    resumed = through_json(tracker, TrackerParams(max_path_points=8, lost_buffer_s=0.2))
    (summary,) = resumed.update(frame(T0 + 5.0)).ended
    assert 2 <= len(summary.path) <= 8
    assert summary.path[0][0] == T0 and summary.path[-1][0] == pytest.approx(T0 + 2.9)


# --- validation ---------------------------------------------------------------------------------


def _asymmetric(snapshot: dict[str, Any]) -> None:
    snapshot["tracks"][0]["covariance"][0][5] += 1.0


def _coupled(snapshot: dict[str, Any]) -> None:
    """Symmetric, but ties the centre's x to its height: no state this filter can reach."""
    cov = snapshot["tracks"][0]["covariance"]
    cov[0][3] = cov[3][0] = 1e-6


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (delete_at("version"), "missing key 'version'"),
        (set_at("version", 2), "version: got 2"),
        (set_at("version", "1"), "version: got '1'"),
        (set_at("version", True), "version: got True"),
        (delete_at("camera_id"), "missing key 'camera_id'"),
        (set_at("camera_id", 7), r"camera_id: expected a non-empty string"),
        (set_at("camera_id", ""), r"camera_id: expected a non-empty string"),
        (delete_at("last_time"), "missing key 'last_time'"),
        (set_at("last_time", None), "live tracks without a last_time"),
        (set_at("last_time", "soon"), "last_time: expected a number"),
        (set_at("last_time", math.nan), "last_time: expected a finite number"),
        (set_at("last_time", T0), r"tracks\[0\]: times out of order"),
        (set_at("tracks", {}), "tracks: expected a list"),
        (set_at("tracks.0", "track"), r"tracks\[0\]: expected an object"),
        (delete_at("tracks.0.hits"), r"tracks\[0\]: missing key 'hits'"),
        (delete_at("tracks.0.covariance"), r"tracks\[0\]: missing key 'covariance'"),
        (set_at("tracks.0.track_id", None), r"tracks\[0\]\.track_id"),
        (set_at("tracks.0.confirmed", 1), r"tracks\[0\]\.confirmed: expected true or false"),
        (set_at("tracks.0.hits", True), r"tracks\[0\]\.hits: expected an integer"),
        (set_at("tracks.0.hits", 0), r"tracks\[0\]\.hits: expected an integer >= 1"),
        (set_at("tracks.0.hits", 2.0), r"tracks\[0\]\.hits: expected an integer"),
        (set_at("tracks.0.first_seen", T0 + 1e6), r"tracks\[0\]: times out of order"),
        (set_at("tracks.0.votes", []), r"tracks\[0\]\.votes: a track has at least one"),
        (set_at("tracks.0.votes", {"car": 3}), r"tracks\[0\]\.votes: expected a list"),
        (set_at("tracks.0.votes", [["car", 1]]), r"tracks\[0\]\.votes: 1 votes for"),
        (set_at("tracks.0.votes.0", ["car"]), r"votes\[0\]: expected \[class, count\]"),
        (set_at("tracks.0.confidence_sum", math.inf), r"confidence_sum: expected a finite"),
        (set_at("tracks.0.mean", [0.5] * 7), r"tracks\[0\]\.mean: expected 8 numbers, got 7"),
        (set_at("tracks.0.mean", "0.5"), r"tracks\[0\]\.mean: expected a list"),
        (set_at("tracks.0.mean.2", math.nan), r"tracks\[0\]\.mean\[2\]: expected a finite"),
        (set_at("tracks.0.mean.3", -0.1), "aspect and height must be at least"),
        (set_at("tracks.0.covariance.7", [0.0] * 9), r"covariance\[7\]: expected 8 numbers"),
        (set_at("tracks.0.covariance", [[0.0] * 8] * 7), r"covariance: expected a 8x8 matrix"),
        (set_at("tracks.0.covariance.1.1", -1.0), "negative variance"),
        (set_at("tracks.0.covariance.4.4", "big"), r"covariance\[4\]\[4\]: expected a number"),
        (set_at("tracks.0.covariance.0.0", math.inf), r"covariance\[0\]\[0\]: expected a finite"),
        (_asymmetric, "covariance is not symmetric"),
        (_coupled, "covariance couples different quantities"),
        (delete_at("tracks.0.path"), r"tracks\[0\]: missing key 'path'"),
        (set_at("tracks.0.path.doublings", -1), r"path\.doublings: expected an integer within"),
        (set_at("tracks.0.path.doublings", 10_000), r"path\.doublings: expected an integer within"),
        (set_at("tracks.0.path.kept", [[T0, 0.5]]), r"path\.kept\[0\]: expected 3 numbers"),
        (set_at("tracks.0.path.latest", [T0, None, 0.5]), r"path\.latest\[1\]: expected a number"),
        (
            set_at("tracks.0.path", {"doublings": 0, "kept": [], "latest": None}),
            "at least one point",
        ),
        (set_at("tracks.0.speed.peak", -1.0), r"tracks\[0\]\.speed\.peak: expected a number >= 0"),
        (set_at("tracks.0.speed", []), r"tracks\[0\]\.speed: expected an object"),
    ],
)
def test_unusable_snapshots_are_refused_with_the_faulty_field(
    mutate: Mutation, message: str
) -> None:
    snapshot = json.loads(json.dumps(_busy_tracker().snapshot()))
    mutate(snapshot)
    with pytest.raises(ValueError, match=message):
        CameraTracker.restore(snapshot)


@pytest.mark.parametrize("state", [None, [], "{}", 3])
def test_a_snapshot_that_is_not_an_object_is_refused(state: Any) -> None:
    with pytest.raises(ValueError, match="snapshot: expected an object"):
        CameraTracker.restore(state)


def test_unknown_extra_keys_are_ignored_and_whole_numbers_accepted() -> None:
    tracker = CameraTracker(CAMERA, TrackerParams(min_hits=1))
    tracker.update(frame(T0, det(0.5, 0.5)))
    snapshot = json.loads(json.dumps(tracker.snapshot()))
    snapshot["written_by"] = "a later release"
    snapshot["last_time"] = int(T0)  # a writer that drops ".0"
    resumed = CameraTracker.restore(snapshot, tracker.params)
    assert resumed.last_time == T0 and isinstance(resumed.last_time, float)


# --- snapshots written before the summary's measurements -----------------------------------------

# Keys that only feed a track's summary, added to the snapshot after its first release.
SUMMARY_ONLY_KEYS = ("speed", "zone_time", "colour_votes")


def _as_first_release(snapshot: dict[str, Any]) -> dict[str, Any]:
    older = copy.deepcopy(snapshot)
    for track in older["tracks"]:
        for key in SUMMARY_ONLY_KEYS:
            del track[key]
    return older


def test_a_snapshot_without_summary_measurements_resumes_every_identity() -> None:
    frames = random_scene(2)
    original = CameraTracker(CAMERA)
    run(original, frames[:60])
    snapshot = json.loads(json.dumps(original.snapshot()))
    resumed = CameraTracker.restore(_as_first_release(snapshot))
    assert resumed.snapshot()["version"] == snapshot["version"] == 1
    later, resumed_later = run(original, frames[60:]), run(resumed, frames[60:])
    assert [out.tracks for out in resumed_later] == [out.tracks for out in later]
    ended = [s for out in later for s in out.ended]
    resumed_ended = [s for out in resumed_later for s in out.ended]
    assert ended and [s.track_id for s in resumed_ended] == [s.track_id for s in ended]
    born_before = {tr["track_id"] for tr in snapshot["tracks"]}
    for mine, theirs in zip(resumed_ended, ended, strict=True):
        if mine.track_id not in born_before:
            assert mine == theirs  # tracks born after the restore know nothing of it
        else:  # the measurements start again at the restore; the rest is unchanged
            assert (mine.path, mine.hits, mine.class_name) == (
                theirs.path,
                theirs.hits,
                theirs.class_name,
            )
            assert 0.0 <= mine.mean_speed <= mine.max_speed


def test_a_track_restored_without_its_speed_measures_it_from_then_on() -> None:
    params = TrackerParams(lost_buffer_s=0.3)
    frames = [frame(T0 + 0.1 * i, det(0.1 + 0.02 * i, 0.5)) for i in range(30)]
    tracker = CameraTracker(CAMERA, params)
    run(tracker, frames[:10])
    resumed = CameraTracker.restore(_as_first_release(tracker.snapshot()), params)
    run(resumed, frames[10:])
    (summary,) = resumed.flush()
    assert summary.mean_speed == pytest.approx(0.2, rel=0.02)
    assert summary.max_speed == pytest.approx(0.2, rel=0.05)


# --- flush --------------------------------------------------------------------------------------


def test_flush_summarises_confirmed_tracks_and_ends_them() -> None:
    tracker = CameraTracker(CAMERA)
    frames = [frame(T0 + 0.1 * i, det(0.2, 0.3), det(0.7, 0.6, "car")) for i in range(6)]
    frames.append(frame(T0 + 0.6, det(0.2, 0.3), det(0.7, 0.6, "car"), det(0.5, 0.9)))
    outs = run(tracker, frames)  # the third detection is a tentative track
    open_ids = [t.track_id for t in outs[-1].tracks]

    summaries = tracker.flush()
    assert [s.track_id for s in summaries] == open_ids
    assert [(s.class_name, s.hits, s.last_seen) for s in summaries] == [
        ("person", 7, T0 + 0.6),
        ("car", 7, T0 + 0.6),
    ]
    assert all(s.path[-1][0] == T0 + 0.6 for s in summaries)
    assert tracker.last_time == T0 + 0.6  # the clock stays
    assert tracker.snapshot()["tracks"] == []
    assert tracker.flush() == ()
    out = tracker.update(frame(T0 + 0.7, det(0.2, 0.3)))
    assert not out.tracks and not out.ended  # anything seen again is a new tentative track


def test_flush_summary_equals_the_one_a_lost_buffer_would_have_given() -> None:
    frames = [frame(T0 + 0.1 * i, det(0.2 + 0.01 * i, 0.4)) for i in range(12)]
    flushed = CameraTracker(CAMERA)
    run(flushed, frames)
    ended = CameraTracker(CAMERA)
    run(ended, frames)
    assert flushed.flush() == ended.update(frame(T0 + 5.0)).ended


def test_flush_now_moves_the_clock_and_is_checked() -> None:
    tracker = CameraTracker(CAMERA)
    run(tracker, [frame(T0 + 0.1 * i, det(0.5, 0.5)) for i in range(4)])
    with pytest.raises(ValueError, match="before the last frame"):
        tracker.flush(now=T0)
    with pytest.raises(ValueError, match="not finite"):
        tracker.flush(now=math.nan)
    assert len(tracker.flush(now=T0 + 10.0)) == 1
    assert tracker.last_time == T0 + 10.0
    with pytest.raises(ValueError, match="strictly increase"):
        tracker.update(frame(T0 + 9.0))
    assert CameraTracker(CAMERA).flush() == ()
