"""The detection interval in the MOT evaluation (``bench.mot.with_interval``, what both trackers
report on carried frames, the interval table of ``bench.eval_mot``), on hand-made data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import mot_cv
from bench.eval_mot import INTERVALS, print_intervals, run_baseline, run_ours
from bench.iou_baseline import IouTrackerParams
from bench.mot import DETECTIONS_FILE, SequenceInfo, load_detections, read_seqinfo, with_interval
from vigie_core.tracking import TrackerParams

NAME = "WALKER-1"
FRAMES = 12
INFO = SequenceInfo(NAME, 10.0, FRAMES, 200, 100)


def _row(frame: int) -> str:
    """The walker on a 1-based frame: 20 x 40 px, 2 px further right on every frame."""
    return f"{frame},{{id}},{40 + 2 * frame},30,20,40,{{score}},-1,-1,-1\n"


def write_walker(root: Path) -> Path:
    """A sequence of one walker detected on every frame, with its ground truth."""
    seq = root / NAME
    (seq / "det").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={NAME}\nimDir=img1\nframeRate=10\nseqLength={FRAMES}\n"
        "imWidth=200\nimHeight=100\nimExt=.jpg\n"
    )
    rows = [_row(f) for f in range(1, FRAMES + 1)]
    (seq / DETECTIONS_FILE).write_text("".join(r.format(id=-1, score=0.9) for r in rows))
    (seq / "gt" / "gt.txt").write_text("".join(r.format(id=1, score=1) for r in rows))
    return seq


@pytest.fixture
def walker(tmp_path: Path) -> Path:
    return write_walker(tmp_path)


@pytest.mark.parametrize(
    ("k", "detected"), [(1, range(1, 13)), (2, [1, 3, 5, 7, 9, 11]), (3, [1, 4, 7, 10])]
)
def test_frames_off_the_interval_become_carried_and_empty(
    walker: Path, k: int, detected: list[int]
) -> None:
    frames = load_detections(walker / DETECTIONS_FILE, read_seqinfo(walker))
    spaced = with_interval(frames, k)
    assert [f.frame for f in spaced] == [f.frame for f in frames]  # every frame, same times
    assert [f.frame.sequence for f in spaced if not f.carried] == list(detected)
    for original, f in zip(frames, spaced, strict=True):
        assert f == original if not f.carried else f.detections == ()
    if k == 1:
        assert spaced == frames


def test_an_interval_below_one_is_refused(walker: Path) -> None:
    frames = load_detections(walker / DETECTIONS_FILE, read_seqinfo(walker))
    with pytest.raises(ValueError, match="at least 1"):
        with_interval(frames, 0)


def test_ours_reports_its_predictions_on_carried_frames(walker: Path) -> None:
    frames = with_interval(load_detections(walker / DETECTIONS_FILE, INFO), 3)
    shown = run_ours(frames, INFO, TrackerParams(), report_lost=False)
    # Confirmed on its third detection (frame 7), then reported on every frame, carried or not,
    # under one id, at a box that follows the walker (2 px a frame).
    assert [len(shown[f]) for f in range(1, 13)] == [0] * 6 + [1] * 6
    assert {int(shown[f].ids[0]) for f in range(7, 13)} == {1}
    for f in range(8, 13):
        assert shown[f].xywh[0, 0] == pytest.approx(40 + 2 * f, abs=1.0)


def test_the_baseline_holds_its_tracks_over_carried_frames(walker: Path) -> None:
    frames = with_interval(load_detections(walker / DETECTIONS_FILE, INFO), 3)
    shown = run_baseline(frames, INFO, IouTrackerParams())
    assert {int(shown[f].ids[0]) for f in range(1, 13)} == {1}  # never ended by a carried frame
    for f in range(1, 13):
        last_detected = f - (f - 1) % 3
        assert shown[f].xywh[0, 0] == pytest.approx(40 + 2 * last_detected)


def test_the_interval_table_scores_every_frame(
    walker: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mot_cv, "_DATA", {})  # sequences are cached by name
    print_intervals(walker.parent, [NAME], TrackerParams(), IouTrackerParams(), False, 1)
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        if re.match(r"^\s+\d+\s+\d+\s", line):
            k, detected, *figures = line.replace("|", " ").split()
            rows[int(k)] = (int(detected), [float(x) for x in figures])
    assert list(rows) == list(INTERVALS) == [1, 2, 3]
    assert [detected for detected, _ in rows.values()] == [12, 6, 4]
    # Ours misses the frames before confirmation (3 detected frames: 2, 4 and 6 frames), and
    # nothing else: its predictions on carried frames all match the walker.
    for k, misses in [(1, 2), (2, 4), (3, 6)]:
        mota, idf1, switches, false_positives, fn, *baseline = rows[k][1]
        assert (switches, false_positives, fn) == (0, 0, misses)
        assert mota == pytest.approx(100 * (1 - misses / 12), abs=0.05)
        assert idf1 == pytest.approx(100 * 2 * (12 - misses) / (24 - misses), abs=0.05)
        # The baseline publishes at once and its held boxes still overlap the walker enough.
        assert baseline == [100.0, 100.0, 0, 0, 0]
