"""``make eval-mot``: our tracker and a plain IoU baseline on MOT15 train, MOTChallenge rules.

Both trackers see exactly what the tracking service sees in production: each sequence's
``det/det_frcnn_sort.txt`` detections as one ``FrameDetections`` per frame (normalised boxes,
capture time ``(frame - 1) / frameRate``, empty frames included), one camera per sequence,
the same parameters for every sequence, and no ground truth. Their output boxes go back to
pixels and are scored with py-motmetrics (see ``bench.mot`` for the rules).

Printed: per sequence and overall (events of all sequences together) MOTA, IDF1, ID switches,
false positives and misses of both trackers, for the given parameters (by default
``TrackerParams()``, which is what the tracking service runs: its settings take every default
from there). Those figures are in-sample: the defaults' association and lifetime settings were
chosen on these six sequences. Then the cross-validated figures (``bench.mot_cv``: a grid of
settings, 2-fold by sequence, chosen on one half and scored on the other), and both beside the
reference trackers quoted in the data README. ``--no-cv`` skips the grid (a few minutes).

What our tracker reports on a frame: its confirmed tracks in state NEW or TRACKED, i.e. those
matched to a detection on that frame. LOST tracks (Kalman predictions of unmatched tracks) are
left out unless ``--report-lost`` is given. The baseline reports every live track.

Detection interval. ``--interval K`` feeds both trackers what the detection service publishes
when it runs its model on every K-th frame only: frames 1, 1 + K, 1 + 2K, ... keep their
detections, the others arrive *carried*, with none (``bench.mot.with_interval``). Every frame is
still scored, so what a tracker reports on a carried frame counts, for better or worse. Ours
reports there its TRACKED tracks, the predictions of those matched on the last detected frame
(LOST ones only with ``--report-lost``), as on detected frames. The baseline has no motion
model to predict with: on a carried frame it keeps its tracks as they are and reports them at
their last boxes. Feeding it the empty frame instead would end every track (it dies on its
first miss) and renumber everyone on every detected frame, which would measure that rule
rather than the cost of the interval. After the other figures, a table gives both trackers at
intervals 1, 2 and 3 (``--no-intervals`` skips it; it runs on ``--workers`` processes).

    .venv/bin/python -m bench.eval_mot [--sequences A,B] [--params key=value ...]
                                       [--report-lost] [--interval K] [--no-cv]
                                       [--no-intervals] [--workers N] [--data DIR]
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

from bench import mot_cv
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
    with_interval,
)
from vigie_cli.samples import default_samples_dir
from vigie_core.tracking import TrackerParams
from vigie_core.types import FrameDetections

OVERALL = "OVERALL"

# Overall MOTA / IDF1 (percent) on the six sequences, det_frcnn_sort.txt, IoU >= 0.5, flag-0
# rows dropped, each tracker with its authors' default parameters, as stated in the shared data
# README (../shared/data/README.md, "Reference figures on mot15-train/"). They are not re-run
# here, and that README gives no further provenance. The trackers' papers publish no figures on
# these six sequences with these detections: SORT (Bewley et al., ICIP 2016, arXiv:1602.00763)
# reports the MOT15 *test* set, OC-SORT (Cao et al., CVPR 2023, arXiv:2203.14360) and ByteTrack
# (Zhang et al., ECCV 2022, arXiv:2110.06864) report MOT17/MOT20/DanceTrack with their own
# detectors. So these are the only figures on the same data to compare with. They were run
# with their defaults, not tuned on these sequences: set beside our cross-validated figure,
# which was not tuned on the sequences it is scored on either, rather than our in-sample one.
REFERENCE: dict[str, tuple[float, float]] = {
    "SORT": (38.0, 43.1),
    "OC-SORT": (36.1, 46.7),
    "ByteTrack": (36.3, 47.5),
}
INTERVALS = (1, 2, 3)
"""Detection intervals of the table printed after the other figures."""

REFERENCE_SEQUENCES = (
    "ADL-Rundle-6",
    "ETH-Bahnhof",
    "KITTI-13",
    "PETS09-S2L1",
    "TUD-Campus",
    "Venice-2",
)


def _parse_value(kind: type, raw: str) -> object:
    """``raw`` as a value of ``kind``; booleans by name (``bool("false")`` would be True)."""
    if kind is bool:
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if raw.lower() not in words:
            raise ValueError(raw)
        return words[raw.lower()]
    return kind(raw)


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
            values[key] = _parse_value(kinds[key], raw.strip())
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
    return mot_cv.track(frames, info, params, report_lost)


def run_baseline(
    frames: Sequence[FrameDetections], info: SequenceInfo, params: IouTrackerParams
) -> dict[int, FrameBoxes]:
    """The baseline over a sequence; per frame its live tracks, in pixels. A carried frame is
    not shown to it (it would end every track): it reports its tracks as the last detected
    frame left them (see the module docstring)."""
    tracker = IouTracker(params)
    out: dict[int, FrameBoxes] = {}
    live: FrameBoxes = FrameBoxes.empty()
    for frame in frames:
        if not frame.carried:
            live = FrameBoxes.of(
                (track.track_id, box_to_pixels(track.box, info.width, info.height))
                for track in tracker.update(frame)
            )
        out[frame.frame.sequence] = live
    return out


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


def _count_cells(c: mot_cv.Counts) -> str:
    return f"{_pct(c.mota)} {_pct(c.idf1)} {c.switches:5d} {c.false_positives:6d} {c.misses:6d}"


def _figures(c: mot_cv.Counts) -> str:
    return f"MOTA {_pct(c.mota)}  IDF1 {_pct(c.idf1)}"


def print_cross_validation(
    root: Path, params: TrackerParams, report_lost: bool, workers: int | None, interval: int = 1
) -> mot_cv.Counts:
    """Runs the grid on every sequence, prints both procedures of ``bench.mot_cv`` and returns
    the cross-validated counts of the shipped one (confidences held at ``params``')."""
    settings = mot_cv.grid(params)
    names = mot_cv.FOLDS[0] + mot_cv.FOLDS[1]
    started = time.perf_counter()
    counts = mot_cv.run_grid(root, settings, names, report_lost, workers, interval)
    pinned = [
        i
        for i, p in enumerate(settings)
        if (p.high_confidence, p.birth_confidence)
        == (params.high_confidence, params.birth_confidence)
    ]
    procedures = [
        mot_cv.cross_validate(
            "shipped: confidences held at "
            f"{params.high_confidence}/{params.low_confidence}/{params.birth_confidence} "
            "(set for the service's detector), the rest chosen",
            settings,
            counts,
            pinned,
        ),
        mot_cv.cross_validate(
            "all tuned: confidences chosen too (for MOT15's Faster R-CNN scores; not shipped)",
            settings,
            counts,
            range(len(settings)),
        ),
    ]
    grid_text = ", ".join(f"{k} {'/'.join(map(str, v))}" for k, v in mot_cv.GRID.items())
    pairs = " ".join(f"{h}/{b}" for h, b in mot_cv.CONFIDENCES)
    print()
    print(
        f"cross-validation, 2-fold by sequence: {len(settings)} settings on top of the "
        f"parameters above (high/birth confidence {pairs}; {grid_text}),"
    )
    print(
        "chosen by (MOTA + IDF1) / 2 on one half, scored on the other "
        f"({time.perf_counter() - started:.0f} s)"
    )
    for procedure in procedures:
        print(f"\n  {procedure.name}")
        for fold in procedure.folds:
            print(f"    chosen on {', '.join(fold.chosen_on)}: {mot_cv.tuned_fields(fold.params)}")
            print(
                f"      in-sample {_figures(fold.train)} | held out "
                f"({', '.join(fold.held_out)}) {_figures(fold.test)}"
            )
        print(f"    cross-validated (held-out halves pooled): {_figures(procedure.held_out)}")
        print(f"    chosen on all six: {mot_cv.tuned_fields(procedure.full_choice)}")
        print(f"      in-sample {_figures(procedure.full_in_sample)}")
    same = procedures[0].full_choice == params
    print(
        "\n  the parameters above are the shipped procedure's choice on all six: "
        f"{'yes' if same else 'NO: ' + mot_cv.differences(procedures[0].full_choice, params)}"
    )
    return procedures[0].held_out


def baseline_counts(
    root: Path, names: Sequence[str], params: IouTrackerParams, interval: int
) -> dict[str, mot_cv.Counts]:
    """The baseline's counts per sequence at a detection interval (cheap: run in process)."""
    out = {}
    for name in names:
        info = read_seqinfo(root / name)
        frames = with_interval(load_detections(root / name / DETECTIONS_FILE, info), interval)
        gt = load_ground_truth(root / name / GROUND_TRUTH_FILE)
        hypotheses = run_baseline(frames, info, params)
        out[name] = mot_cv.counts_of(accumulate(gt, hypotheses, range(1, info.length + 1)))
    return out


def print_intervals(
    root: Path,
    names: Sequence[str],
    params: TrackerParams,
    baseline_params: IouTrackerParams,
    report_lost: bool,
    workers: int | None,
) -> None:
    """Both trackers at each of ``INTERVALS``, overall (events of ``names`` pooled)."""
    started = time.perf_counter()
    ours = mot_cv.run_intervals(root, params, names, report_lost, INTERVALS, workers)
    shipped = params == TrackerParams()
    setting = "TrackerParams() (shipped), in-sample" if shipped else "the given parameters"
    reported = "NEW/TRACKED/LOST" if report_lost else "NEW/TRACKED"
    print()
    print(
        f"detection interval k: the model looks at frames 1, 1+k, 1+2k, ... only; the others "
        f"arrive carried (no detections) and every frame is scored ({len(names)} sequences "
        "pooled)"
    )
    print(
        f"ours: {setting}; reports {reported} on detected frames, on carried frames the "
        "predictions of the tracks matched on the last detected frame"
    )
    print("baseline: no motion model; on a carried frame it reports its tracks at their last boxes")
    head = f"{'MOTA':>6s} {'IDF1':>6s} {'IDSW':>5s} {'FP':>6s} {'FN':>6s}"
    width = len(head)
    print(f"{'':20s} {'ours':^{width}s} | {'iou baseline':^{width}s}".rstrip())
    print(f"{'k':>3s} {'detected frames':>16s} {head} | {head}")
    for k, per_sequence in zip(INTERVALS, ours, strict=True):
        base = mot_cv.pooled(baseline_counts(root, names, baseline_params, k), names)
        detected = 0
        for name in names:
            length = read_seqinfo(root / name).length
            detected += len(range(1, length + 1, k))
        mine = mot_cv.pooled(per_sequence, names)
        print(f"{k:3d} {detected:16d} {_count_cells(mine)} | {_count_cells(base)}")
    print(f"({time.perf_counter() - started:.0f} s)")


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
        "--interval",
        type=int,
        default=1,
        metavar="K",
        help="detection interval of the main table: only frames 1, 1+K, 1+2K, ... keep their "
        "detections, the others arrive carried (default 1: every frame)",
    )
    parser.add_argument(
        "--no-intervals",
        action="store_true",
        help=f"skip the table of detection intervals {', '.join(map(str, INTERVALS))}",
    )
    parser.add_argument(
        "--no-cv",
        action="store_true",
        help="skip the cross-validated tuning (a grid of settings on every sequence, a few "
        "minutes); only the table of the given parameters",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes for the cross-validation grid and the interval table (default: the "
        "CPUs available)",
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
    if args.interval < 1:
        parser.error(f"--interval must be at least 1, got {args.interval}")
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
    if args.interval > 1:
        print(
            f"detection interval {args.interval}: frames 1, {1 + args.interval}, "
            f"{1 + 2 * args.interval}, ... keep their detections, the others arrive carried "
            "(none); every frame is scored; the baseline holds its tracks over carried frames"
        )

    ours_acc = {}
    base_acc = {}
    frames_of: dict[str, int] = {}
    for name in wanted:
        seq_dir = root / name
        info = read_seqinfo(seq_dir)
        frames = with_interval(load_detections(seq_dir / DETECTIONS_FILE, info), args.interval)
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
    comparable = sorted(wanted) == sorted(REFERENCE_SEQUENCES)
    shipped = params == TrackerParams()
    every_frame = args.interval == 1
    if shipped and comparable and not args.report_lost and every_frame:
        print(
            "(ours: in-sample, the shipped parameters' association and lifetime settings were "
            "chosen on these six sequences; the cross-validated figure is below)"
        )
    held_out: mot_cv.Counts | None = None
    if not args.no_cv:
        if not comparable:
            print("\ncross-validation skipped: it needs all six sequences (--no-cv to silence)")
        else:
            held_out = print_cross_validation(
                root, params, args.report_lost, args.workers, args.interval
            )

    print()
    print("overall MOTA / IDF1 (%) against the reference trackers (data README; default")
    print("parameters, not tuned on these sequences):")
    for name, (mota, idf1) in REFERENCE.items():
        print(f"  {name:30s} {mota:6.1f} / {idf1:6.1f}")
    # The defaults were chosen on these six sequences; other parameters may not have been.
    label = "ours, in-sample" if shipped else "ours, given parameters"
    rows = [(label, ours_all.mota, ours_all.idf1)]
    if held_out is not None:
        rows.insert(0, ("ours, cross-validated", held_out.mota, held_out.idf1))
    rows.append(("iou baseline (untuned)", base_all.mota, base_all.idf1))
    for name, mota, idf1 in rows:
        print(f"  {name:30s} {_pct(mota)} / {_pct(idf1)}")
    if held_out is not None:
        mota_ok = all(round(100 * held_out.mota, 1) > m for m, _ in REFERENCE.values())
        idf1_ok = all(round(100 * held_out.idf1, 1) > i for _, i in REFERENCE.values())
        print(
            f"ours (cross-validated) above all three: MOTA {'yes' if mota_ok else 'no'}, "
            f"IDF1 {'yes' if idf1_ok else 'no'}"
        )
    if not comparable:
        print("  (not comparable: the reference figures are over all six sequences)")
    elif not every_frame:
        print(f"  (detection interval {args.interval}: the reference figures look at every frame)")
    elif not shipped or args.report_lost:
        print("  (non-default settings: not what the services ship)")
    if not args.no_intervals:
        print_intervals(root, wanted, params, baseline_params, args.report_lost, args.workers)
    print(f"\nelapsed: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
