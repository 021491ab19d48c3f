"""The MOT evaluation harness (``bench.mot``, ``bench.iou_baseline``, ``bench.eval_mot``) on
hand-made data: no shared data needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.eval_mot import parse_params, run_ours
from bench.iou_baseline import IouTracker
from bench.mot import (
    FrameBoxes,
    SequenceInfo,
    accumulate,
    box_to_pixels,
    iou_distances,
    load_detections,
    load_ground_truth,
    pixels_to_box,
    read_seqinfo,
    scores,
    summarise,
)
from vigie_core.tracking import TrackerParams
from vigie_core.types import Box, Detection, FrameDetections, FrameRef

# --- scoring -----------------------------------------------------------------------------------

# Pixel boxes (x, y, w, h). P and Q are the two ground-truth objects on every frame 1..4.
P = (0.0, 0.0, 10.0, 10.0)
Q = (100.0, 0.0, 10.0, 10.0)
Q_OFF = (106.0, 0.0, 10.0, 10.0)  # IoU with Q = 40 / 160 = 0.25: no match
P_TALL = (0.0, 0.0, 10.0, 20.0)  # IoU with P = 100 / 200 = 0.5 exactly: a match

GT = {f: FrameBoxes.of([(1, P), (2, Q)]) for f in (1, 2, 3, 4)}
HYP = {
    1: FrameBoxes.of([(10, P), (20, Q)]),
    2: FrameBoxes.of([(10, P), (20, Q_OFF)]),
    3: FrameBoxes.of([(10, P_TALL), (20, Q)]),
    4: FrameBoxes.of([(30, P), (20, Q)]),
}
# By hand. 8 ground-truth boxes (2 objects x 4 frames).
#   frame 1: 1-10, 2-20 match.
#   frame 2: 1-10 match; 2 vs 20 has IoU 0.25 < 0.5: one miss (FN) and one false positive.
#   frame 3: 1-10 (IoU exactly 0.5 counts) and 2-20 match.
#   frame 4: 1 is now covered by 30, last matched to 10: one ID switch; 2-20 match.
#   MOTA = 1 - (FN + FP + IDSW) / GT = 1 - (1 + 1 + 1) / 8 = 0.625.
# IDF1: the best one-to-one pairing of whole trajectories is 1<->10 (frames 1, 2, 3) and
#   2<->20 (frames 1, 3, 4), 30 unpaired: IDTP = 6, IDFN = 8 - 6 = 2, and with 8 hypothesis
#   boxes (10: 3, 20: 4, 30: 1) IDFP = 8 - 6 = 2.
#   IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN) = 12 / 16 = 0.75.


def test_scoring_of_a_hand_made_sequence() -> None:
    summary = summarise({"seq": accumulate(GT, HYP, range(1, 5))})
    s = scores(summary, "seq")
    assert s.objects == 8
    assert s.misses == 1
    assert s.false_positives == 1
    assert s.id_switches == 1
    assert s.mota == pytest.approx(0.625)
    assert s.idf1 == pytest.approx(0.75)


def test_overall_sums_events_over_sequences_rather_than_averaging() -> None:
    # A second sequence: one frame, both objects found. Overall by hand: GT 8 + 2 = 10, errors
    # 3 + 0, MOTA = 1 - 3/10 = 0.7 (the mean of 0.625 and 1.0 would be 0.8125); IDTP 6 + 2,
    # IDFP 2, IDFN 2: IDF1 = 16 / 20 = 0.8.
    perfect = {1: FrameBoxes.of([(1, P), (2, Q)])}
    summary = summarise(
        {
            "a": accumulate(GT, HYP, range(1, 5)),
            "b": accumulate(perfect, perfect, [1]),
        }
    )
    assert scores(summary, "b").mota == pytest.approx(1.0)
    overall = scores(summary, "OVERALL")
    assert overall.objects == 10
    assert overall.mota == pytest.approx(0.7)
    assert overall.idf1 == pytest.approx(0.8)
    assert (overall.id_switches, overall.false_positives, overall.misses) == (1, 1, 1)


def test_iou_distances_gate_at_one_half() -> None:
    d = iou_distances(np.array([P]), np.array([P, P_TALL, Q_OFF, Q]))
    assert d[0, 0] == pytest.approx(0.0)
    assert d[0, 1] == pytest.approx(0.5)  # IoU 0.5 is a match
    assert np.isnan(d[0, 2]) and np.isnan(d[0, 3])
    assert iou_distances(np.zeros((0, 4)), np.array([P])).shape == (0, 1)


def test_empty_frames_count_without_events() -> None:
    summary = summarise({"seq": accumulate({}, {}, range(1, 4))})
    s = scores(summary, "seq")
    assert (s.objects, s.misses, s.false_positives, s.id_switches) == (0, 0, 0, 0)


# --- files -------------------------------------------------------------------------------------


def write_sequence(tmp_path: Path, det: str, gt: str) -> Path:
    seq = tmp_path / "SEQ-1"
    (seq / "det").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text(
        "[Sequence]\nname=SEQ-1\nimDir=img1\nframeRate=10\nseqLength=4\n"
        "imWidth=200\nimHeight=100\nimExt=.jpg\n"
    )
    (seq / "det" / "det_frcnn_sort.txt").write_text(det)
    (seq / "gt" / "gt.txt").write_text(gt)
    return seq


def test_flag_zero_ground_truth_rows_are_dropped(tmp_path: Path) -> None:
    seq = write_sequence(
        tmp_path,
        det="",
        gt=(
            "1,1,0,0,10,10,1,-1,-1,-1\n"
            "1,2,100,0,10,10,0,-1,-1,-1\n"  # flag 0: ignored
            "2,1,0,0,10,10,1,-1,-1,-1\n"
            "2,2,100,0,10,10,0,3.5,1.2,0\n"  # flag 0, world coordinates as in some MOT15 files
        ),
    )
    gt = load_ground_truth(seq / "gt" / "gt.txt")
    assert sorted(gt) == [1, 2]
    assert all(list(fb.ids) == [1] for fb in gt.values())
    # Dropped, not excluded from scoring: a hypothesis on an ignored box is a false positive
    # (MOT15 has no distractor classes to absorb it).
    hyp = {f: FrameBoxes.of([(7, P), (8, Q)]) for f in (1, 2)}
    s = scores(summarise({"seq": accumulate(gt, hyp, [1, 2])}), "seq")
    assert (s.objects, s.misses, s.false_positives) == (2, 0, 2)
    assert s.mota == pytest.approx(0.0)


def test_detections_become_normalised_frames_with_times(tmp_path: Path) -> None:
    seq = write_sequence(
        tmp_path,
        det=(
            "1,-1,20,10,40,50,0.9,-1,-1,-1\n"
            "1,-1,100,0,100,100,0.6,-1,-1,-1\n"
            "3,-1,0,0,20,10,0.7,-1,-1,-1\n"
        ),
        gt="",
    )
    info = read_seqinfo(seq)
    assert info == SequenceInfo("SEQ-1", 10.0, 4, 200, 100)
    frames = load_detections(seq / "det" / "det_frcnn_sort.txt", info)
    assert [f.frame.sequence for f in frames] == [1, 2, 3, 4]  # empty frames 2 and 4 included
    assert [f.frame.captured_at for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert [len(f.detections) for f in frames] == [2, 0, 1, 0]
    first = frames[0].detections[0]
    assert (first.box.x1, first.box.y1, first.box.x2, first.box.y2) == pytest.approx(
        (0.1, 0.1, 0.3, 0.6)
    )
    assert first.confidence == pytest.approx(0.9)
    assert frames[0].frame.camera_id == "SEQ-1"
    assert (frames[0].frame.width, frames[0].frame.height) == (200, 100)


@pytest.mark.parametrize("size", [(1920, 1080), (640, 480), (1242, 375)])
def test_pixel_normalised_round_trip(size: tuple[int, int]) -> None:
    width, height = size
    rng = np.random.default_rng(7)
    for x, y, w, h in rng.uniform(0, 1, (50, 4)) * [width, height, width / 4, height / 4]:
        box = pixels_to_box(x, y, w, h, width, height)
        assert 0.0 <= box.x1 <= box.x2 and 0.0 <= box.y1 <= box.y2
        assert box_to_pixels(box, width, height) == pytest.approx((x, y, w, h), abs=1e-9)
    assert pixels_to_box(192, 108, 96, 54, 1920, 1080) == Box(0.1, 0.1, 0.15, 0.15)


# --- the IoU baseline --------------------------------------------------------------------------


def frame(index: int, *boxes: Box) -> FrameDetections:
    return FrameDetections(
        frame=FrameRef("cam", index, index / 10.0),
        detections=tuple(Detection(b, "person", 0.9) for b in boxes),
    )


def box(x1: float, y1: float = 0.4, w: float = 0.1, h: float = 0.2) -> Box:
    return Box(x1, y1, x1 + w, y1 + h)


def ids_by_box(tracks: tuple) -> dict[Box, int]:
    return {t.box: t.track_id for t in tracks}


def test_baseline_keeps_ids_through_a_crossing_with_every_detection() -> None:
    # A moves right, B left, 0.02 per frame, B 0.05 lower: they overlap and pass each other.
    # Each box overlaps its own last box (IoU 0.67) more than the other's (at most 0.6), so the
    # optimal assignment never swaps them.
    tracker = IouTracker()
    for k in range(16):
        a, b = box(0.10 + 0.02 * k), box(0.40 - 0.02 * k, y1=0.45)
        got = ids_by_box(tracker.update(frame(k + 1, a, b)))
        assert got == {a: 1, b: 2}


def test_baseline_publishes_at_once_and_drops_a_track_on_its_first_miss() -> None:
    tracker = IouTracker()
    assert [t.track_id for t in tracker.update(frame(1, box(0.5)))] == [1]  # min_hits 1
    assert tracker.update(frame(2)) == ()  # missed once: dead, nothing predicted
    assert [t.track_id for t in tracker.update(frame(3, box(0.5)))] == [2]  # back as a new id


def test_baseline_swaps_ids_after_a_crossing_with_a_missed_detection() -> None:
    # A moves right 0.04 per frame, B left 0.03, same height; on frame 4 A is hidden behind B.
    tracker = IouTracker()
    for k, (a, b) in enumerate([(0.12, 0.36), (0.16, 0.33), (0.20, 0.30)], start=1):
        assert ids_by_box(tracker.update(frame(k, box(a), box(b)))) == {box(a): 1, box(b): 2}
    # Frame 4: only B (0.27). A's track (last box 0.20) overlaps it by IoU 0.18 < 0.3 and dies;
    # B's track (0.30, IoU 0.54) keeps it.
    assert ids_by_box(tracker.update(frame(4, box(0.27)))) == {box(0.27): 2}
    # Frame 5: A reappears at 0.28, B is at 0.24. B's track (last box 0.27) overlaps A's box
    # more (IoU 0.82 vs 0.54), so id 2 moves to A and B gets a new id: no motion model.
    assert ids_by_box(tracker.update(frame(5, box(0.28), box(0.24)))) == {
        box(0.28): 2,
        box(0.24): 3,
    }


# --- the command's helpers ---------------------------------------------------------------------


def test_params_are_parsed_as_their_field_types() -> None:
    assert parse_params([]) == TrackerParams()
    params = parse_params(["min_hits=2", "lost_buffer_s=1"])
    assert params == TrackerParams(min_hits=2, lost_buffer_s=1.0)
    with pytest.raises(ValueError, match="key=value"):
        parse_params(["no_such_field=1"])
    with pytest.raises(ValueError, match="not of type int"):
        parse_params(["min_hits=two"])


def test_lost_tracks_are_reported_only_on_request() -> None:
    info = SequenceInfo("cam", 10.0, 6, 100, 100)
    frames = [
        FrameDetections(
            frame=FrameRef("cam", k, info.frame_time(k), 100, 100),
            detections=(Detection(box(0.5), "person", 0.9),) if k <= 4 else (),
        )
        for k in range(1, 7)
    ]
    params = TrackerParams(min_hits=3, lost_buffer_s=1.0)
    shown = run_ours(frames, info, params, report_lost=False)
    # Confirmed on frame 3 (NEW), matched on 4 (TRACKED), unmatched (LOST) on 5 and 6.
    assert [len(shown[k]) for k in range(1, 7)] == [0, 0, 1, 1, 0, 0]
    with_lost = run_ours(frames, info, params, report_lost=True)
    assert [len(with_lost[k]) for k in range(1, 7)] == [0, 0, 1, 1, 1, 1]
    assert {int(with_lost[k].ids[0]) for k in (3, 4, 5, 6)} == {1}
