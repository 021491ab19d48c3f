"""``make eval-mot``: our tracker and a plain IoU baseline on MOT15 train, MOTChallenge rules.

Both trackers see exactly what the tracking service sees in production: each sequence's
``det/det_frcnn_sort.txt`` detections as one ``FrameDetections`` per frame (normalised boxes,
capture time ``(frame - 1) / frameRate``, empty frames included), one camera per sequence,
the same parameters for every sequence, and no ground truth. Their output boxes go back to
pixels and are scored with py-motmetrics (see ``bench.mot`` for the rules). Printed per
sequence and overall (events of all sequences together): MOTA, IDF1, ID switches, false
positives and misses of both trackers, then the overall figures against the reference trackers
quoted in the data README.

What our tracker reports on a frame: its confirmed tracks in state NEW or TRACKED, i.e. those
matched to a detection on that frame. LOST tracks (Kalman predictions of unmatched tracks) are
left out unless ``--report-lost`` is given. The baseline reports every live track.

    .venv/bin/python -m bench.eval_mot [--sequences A,B] [--params key=value ...]
                                       [--report-lost] [--data DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from bench.iou_baseline import IouTracker, IouTrackerParams
from bench.mot import (
    DETECTIONS_FILE,
    GROUND_TRUTH_FILE,
    MATCH_IOU,
    FrameBoxes,
    Scores,
    SequenceInfo,
    accumulate,
    box_to_pixels,
    list_sequences,
    load_detections,
    load_ground_truth,
    mot15_dir,
    read_seqinfo,
    scores,
    summarise,
)
from vigie_cli.samples import default_samples_dir
from vigie_core.tracking import CameraTracker, TrackerParams
from vigie_core.types import FrameDetections, TrackState

OVERALL = "OVERALL"

# Overall MOTA / IDF1 (percent) on the six sequences, det_frcnn_sort.txt, IoU >= 0.5, flag-0
# rows dropped, each with its authors' default parameters: from the data README.
REFERENCE: dict[str, tuple[float, float]] = {
    "SORT": (38.0, 43.1),
    "OC-SORT": (36.1, 46.7),
    "ByteTrack": (36.3, 47.5),
}
REFERENCE_SEQUENCES = (
    "ADL-Rundle-6",
    "ETH-Bahnhof",
    "KITTI-13",
    "PETS09-S2L1",
    "TUD-Campus",
    "Venice-2",
)


def parse_params(items: Sequence[str]) -> TrackerParams:
    """``TrackerParams`` from ``key=value`` strings, each value read as its field's type."""
    defaults = TrackerParams()
    kinds = {f.name: type(getattr(defaults, f.name)) for f in dataclasses.fields(TrackerParams)}
    values: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in kinds:
            raise ValueError(
                f"--params expects key=value with key one of {', '.join(kinds)}; got {item!r}"
            )
        try:
            values[key] = kinds[key](raw.strip())
        except ValueError as exc:
            kind = kinds[key].__name__
            raise ValueError(f"--params {key}: {raw!r} is not of type {kind}") from exc
    return dataclasses.replace(defaults, **values)


def run_ours(
    frames: Sequence[FrameDetections],
    info: SequenceInfo,
    params: TrackerParams,
    report_lost: bool,
) -> dict[int, FrameBoxes]:
    """Our tracker over a sequence; per frame the reported tracks, in pixels. Track ids are
    strings namespaced by camera; they are numbered here in order of first appearance."""
    shown = {TrackState.NEW, TrackState.TRACKED}
    if report_lost:
        shown.add(TrackState.LOST)
    tracker = CameraTracker(info.name, params)
    numbers: dict[str, int] = {}
    out: dict[int, FrameBoxes] = {}
    for frame in frames:
        result = tracker.update(frame)
        out[frame.frame.sequence] = FrameBoxes.of(
            (
                numbers.setdefault(track.track_id, len(numbers) + 1),
                box_to_pixels(track.box, info.width, info.height),
            )
            for track in result.tracks
            if track.state in shown
        )
    return out


def run_baseline(
    frames: Sequence[FrameDetections], info: SequenceInfo, params: IouTrackerParams
) -> dict[int, FrameBoxes]:
    tracker = IouTracker(params)
    return {
        frame.frame.sequence: FrameBoxes.of(
            (track.track_id, box_to_pixels(track.box, info.width, info.height))
            for track in tracker.update(frame)
        )
        for frame in frames
    }


def command_line(argv: Sequence[str]) -> str:
    python = sys.executable
    relative = os.path.relpath(python)
    if not relative.startswith(".."):
        python = relative
    return shlex.join([python, "-m", "bench.eval_mot", *argv])


def _pct(value: float) -> str:
    return f"{100.0 * value:6.1f}"


def _cells(s: Scores) -> str:
    return f"{_pct(s.mota)} {_pct(s.idf1)} {s.id_switches:5d} {s.false_positives:6d} {s.misses:6d}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.eval_mot", description=__doc__)
    parser.add_argument(
        "--sequences",
        default="",
        help="comma-separated sequence names to restrict to (default: all under the data dir)",
    )
    parser.add_argument(
        "--params",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="TrackerParams fields for our tracker, e.g. min_hits=2 lost_buffer_s=1.0",
    )
    parser.add_argument(
        "--report-lost",
        action="store_true",
        help="also report our confirmed tracks in state LOST (predictions), not only NEW/TRACKED",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="shared data folder holding mot15-train/ (default: $VIGIE_SAMPLES or ../shared/data)",
    )
    args = parser.parse_args(argv)

    try:
        params = parse_params(args.params)
    except ValueError as exc:
        parser.error(str(exc))
    baseline_params = IouTrackerParams()
    root = mot15_dir(args.data if args.data is not None else default_samples_dir())
    available = list_sequences(root)
    if not available:
        parser.error(f"no MOT15 sequences under {root} (set $VIGIE_SAMPLES or --data)")
    wanted = [s.strip() for s in args.sequences.split(",") if s.strip()] or available
    unknown = [s for s in wanted if s not in available]
    if unknown:
        parser.error(f"unknown sequences {unknown}; available: {', '.join(available)}")

    started = time.perf_counter()
    print(f"$ {command_line(argv)}")
    print(f"data: {root} ({len(wanted)} sequences, detections {DETECTIONS_FILE})")
    print(
        f"scoring: py-motmetrics {version('motmetrics')}, MOTChallenge rules: IoU >= {MATCH_IOU} "
        "to match, gt rows with flag 0 dropped, all other gt rows count; OVERALL sums the "
        "events of all sequences"
    )
    default_note = "defaults" if params == TrackerParams() else "NOT the defaults: tuning run"
    print(f"ours: CameraTracker, {params} ({default_note})")
    reported = "NEW, TRACKED and LOST" if args.report_lost else "NEW or TRACKED (LOST not)"
    print(f"      reports per frame: confirmed tracks in state {reported}; --report-lost toggles")
    print(
        f"baseline: IouTracker, {baseline_params}: Hungarian IoU frame to frame, no motion "
        "model, dies after 1 missed frame, min_hits 1"
    )
    print("same parameters for every sequence; ground truth is read only to score")

    ours_acc = {}
    base_acc = {}
    frames_of: dict[str, int] = {}
    for name in wanted:
        seq_dir = root / name
        info = read_seqinfo(seq_dir)
        frames = load_detections(seq_dir / DETECTIONS_FILE, info)
        ours = run_ours(frames, info, params, args.report_lost)
        base = run_baseline(frames, info, baseline_params)
        gt = load_ground_truth(seq_dir / GROUND_TRUTH_FILE)
        numbers = range(1, info.length + 1)
        ours_acc[name] = accumulate(gt, ours, numbers)
        base_acc[name] = accumulate(gt, base, numbers)
        frames_of[name] = info.length
    ours_summary = summarise(ours_acc)
    base_summary = summarise(base_acc)

    head = f"{'MOTA':>6s} {'IDF1':>6s} {'IDSW':>5s} {'FP':>6s} {'FN':>6s}"
    width = len(head)
    print()
    print(f"{'':27s} {'ours':^{width}s} | {'iou baseline':^{width}s}".rstrip())
    print(f"{'sequence':14s} {'frames':>6s} {'gt':>5s} {head} | {head}")
    for row in [*wanted, OVERALL]:
        ours_s, base_s = scores(ours_summary, row), scores(base_summary, row)
        n_frames = sum(frames_of.values()) if row == OVERALL else frames_of[row]
        if row == OVERALL:
            print("-" * (27 + 2 * width + 3))
        print(f"{row:14s} {n_frames:6d} {ours_s.objects:5d} {_cells(ours_s)} | {_cells(base_s)}")

    ours_all, base_all = scores(ours_summary, OVERALL), scores(base_summary, OVERALL)
    print()
    print("overall MOTA / IDF1 (%) against the reference trackers (data README):")
    for name, (mota, idf1) in REFERENCE.items():
        print(f"  {name:12s} {mota:6.1f} / {idf1:6.1f}")
    for name, s in (("ours", ours_all), ("iou baseline", base_all)):
        print(f"  {name:12s} {_pct(s.mota)} / {_pct(s.idf1)}")
    mota_ok = all(round(100 * ours_all.mota, 1) > m for m, _ in REFERENCE.values())
    idf1_ok = all(round(100 * ours_all.idf1, 1) > i for _, i in REFERENCE.values())
    print(
        f"ours above all three: MOTA {'yes' if mota_ok else 'no'}, "
        f"IDF1 {'yes' if idf1_ok else 'no'}, both {'yes' if mota_ok and idf1_ok else 'no'}"
    )
    if sorted(wanted) != sorted(REFERENCE_SEQUENCES):
        print("  (not comparable: the reference figures are over all six sequences)")
    elif params != TrackerParams() or args.report_lost:
        print("  (non-default settings: the reference trackers ran with their defaults)")
    print(f"\nelapsed: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
