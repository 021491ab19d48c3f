"""Cross-validated tuning of ``CameraTracker`` on the MOT15 sequences, for ``bench.eval_mot``.

A figure measured on the sequences its parameters were chosen on flatters the tracker: the
choice fits those sequences' quirks as well as what generalises. So the tuning is done as a
2-fold cross-validation by sequence:

* the six sequences are split once into two halves (``FOLDS``), fixed before any result was
  looked at, so that each half holds one moving-camera sequence (ETH-Bahnhof, KITTI-13) and
  about half of the evaluated boxes (10,783 and 12,379);
* every setting of a small grid (``GRID``) is run on every sequence, once;
* for each half, the setting with the best score on it (``objective``: mean of MOTA and IDF1 over
  the half's events pooled) is scored on the *other* half; ties go to the first in grid order,
  so the result never depends on the order of the workers;
* the cross-validated figure pools the held-out events of both folds: every sequence is scored
  exactly once, with parameters that were not chosen on it.

Choosing on all six sequences with the same rule gives the parameters to ship, and their
figure on the six is in-sample: printed, but labelled so.

Two procedures are run on the same grid runs (so they cost one pass):

* *shipped*: the confidence thresholds are held at those of ``TrackerParams()`` (the
  tracking service's settings), which are set for the service's detector, not for the
  Faster R-CNN detections of MOT15 (see ``vigie_tracking.settings``); only the association
  and lifetime parameters are chosen;
* *all tuned*: the confidence thresholds are chosen too, for MOT15's Faster R-CNN scores.
  Not shipped: it shows what the thresholds would be worth on a detector calibrated like
  that one.

Pooled figures are computed from per-sequence counts the way py-motmetrics computes its
``OVERALL`` row: MOTA = 1 - (misses + false positives + switches) / objects, IDF1 = 2 IDTP /
(objects + predictions).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import motmetrics as mm

from bench.mot import (
    DETECTIONS_FILE,
    GROUND_TRUTH_FILE,
    FrameBoxes,
    SequenceInfo,
    accumulate,
    load_detections,
    load_ground_truth,
    read_seqinfo,
    with_interval,
)
from vigie_core.tracking import CameraTracker, TrackerParams
from vigie_core.types import FrameDetections, TrackState

FOLDS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("ADL-Rundle-6", "ETH-Bahnhof", "TUD-Campus"),
    ("KITTI-13", "PETS09-S2L1", "Venice-2"),
)

# (high_confidence, birth_confidence) pairs: MOT15's detections score 0.5 to 1, so
# low_confidence is left as it is (0.4 and 0.5 select the same detections there).
CONFIDENCES: tuple[tuple[float, float], ...] = (
    (0.6, 0.6),
    (0.6, 0.8),
    (0.6, 0.9),
    (0.7, 0.7),
    (0.7, 0.9),
    (0.8, 0.8),
    (0.8, 0.9),
    (0.9, 0.9),
)

# The association and lifetime parameters, each around its former default.
GRID: dict[str, tuple[float, ...]] = {
    "match_iou": (0.2, 0.3, 0.4),
    "second_match_iou": (0.3, 0.5),
    "lost_buffer_s": (1.5, 3.0),
}


@dataclass(frozen=True, slots=True)
class Counts:
    """The counts MOTA and IDF1 are made of, for one or several sequences (they add up)."""

    objects: int = 0
    predictions: int = 0
    idtp: int = 0
    misses: int = 0
    false_positives: int = 0
    switches: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            *(
                a + b
                for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
            )
        )

    @property
    def mota(self) -> float:
        return 1.0 - (self.misses + self.false_positives + self.switches) / self.objects

    @property
    def idf1(self) -> float:
        return 2.0 * self.idtp / (self.objects + self.predictions)


def objective(counts: Counts) -> float:
    """What a setting is chosen by: MOTA and IDF1 weigh alike (one rewards detecting, the other
    keeping identities, and the service needs both)."""
    return (counts.mota + counts.idf1) / 2.0


def grid(base: TrackerParams) -> list[TrackerParams]:
    """Every grid setting, on top of ``base`` (its other fields, e.g. a feature switched on),
    in a fixed order; ``base``'s own confidence pair is added if the grid lacks it, so the
    shipped procedure always has candidates. ``low_confidence`` is lowered where a setting
    needs it to stay valid."""
    settings = []
    keys = list(GRID)
    confidences = list(CONFIDENCES)
    if (base.high_confidence, base.birth_confidence) not in confidences:
        confidences.append((base.high_confidence, base.birth_confidence))
    for (high, birth), values in itertools.product(confidences, itertools.product(*GRID.values())):
        settings.append(
            dataclasses.replace(
                base,
                high_confidence=high,
                birth_confidence=birth,
                low_confidence=min(base.low_confidence, high),
                **dict(zip(keys, values, strict=True)),
            )
        )
    return settings


# --- running and scoring ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sequence:
    info: SequenceInfo
    frames: list[FrameDetections]
    ground_truth: dict[int, FrameBoxes]


_DATA: dict[str, _Sequence] = {}
_METRICS = mm.metrics.create()
# Only what MOTA and IDF1 are made of: far cheaper than the whole MOTChallenge set.
_NEEDED = (
    "num_objects",
    "num_predictions",
    "idtp",
    "num_misses",
    "num_false_positives",
    "num_switches",
)


def _load(root: Path, names: Iterable[str]) -> None:
    for name in names:
        if name not in _DATA:
            info = read_seqinfo(root / name)
            _DATA[name] = _Sequence(
                info,
                load_detections(root / name / DETECTIONS_FILE, info),
                load_ground_truth(root / name / GROUND_TRUTH_FILE),
            )


def track(
    frames: Sequence[FrameDetections], info: SequenceInfo, params: TrackerParams, report_lost: bool
) -> dict[int, FrameBoxes]:
    """The tracker over a sequence; per frame its reported tracks (NEW or TRACKED, LOST too on
    request), in pixels, ids numbered in order of first appearance. On a carried frame the
    tracker's TRACKED tracks are the predictions of those matched on the last detected frame,
    so they are reported the same way."""
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
                numbers.setdefault(t.track_id, len(numbers) + 1),
                (
                    t.box.x1 * info.width,
                    t.box.y1 * info.height,
                    t.box.width * info.width,
                    t.box.height * info.height,
                ),
            )
            for t in result.tracks
            if t.state in shown
        )
    return out


def counts_of(acc: mm.MOTAccumulator) -> Counts:
    """The counts of one accumulator (one sequence)."""
    row = _METRICS.compute(acc, metrics=list(_NEEDED), return_dataframe=False)
    return Counts(
        objects=int(row["num_objects"]),
        predictions=int(row["num_predictions"]),
        idtp=int(row["idtp"]),
        misses=int(row["num_misses"]),
        false_positives=int(row["num_false_positives"]),
        switches=int(row["num_switches"]),
    )


# (index of the result, parameters, sequence, report LOST too, detection interval)
_Job = tuple[int, TrackerParams, str, bool, int]


def _score(job: _Job) -> tuple[int, str, Counts]:
    index, params, name, report_lost, interval = job
    seq = _DATA[name]
    hypotheses = track(with_interval(seq.frames, interval), seq.info, params, report_lost)
    acc = accumulate(seq.ground_truth, hypotheses, range(1, seq.info.length + 1))
    return index, name, counts_of(acc)


def _init_worker(root: Path, names: Sequence[str]) -> None:
    _load(root, names)


def run_grid(
    root: Path,
    settings: Sequence[TrackerParams],
    names: Sequence[str],
    report_lost: bool,
    workers: int | None = None,
    interval: int = 1,
) -> list[dict[str, Counts]]:
    """Counts of every setting on every sequence, ``[setting][sequence]``, at a detection
    interval (``bench.mot.with_interval``; 1 looks at every frame). Runs in a pool of
    ``workers`` processes (default: the CPUs this process may use); the results do not depend
    on how many."""
    jobs = [(i, p, n, report_lost, interval) for i, p in enumerate(settings) for n in names]
    return _run(root, names, jobs, len(settings), workers, chunksize=4)


def run_intervals(
    root: Path,
    params: TrackerParams,
    names: Sequence[str],
    report_lost: bool,
    intervals: Sequence[int],
    workers: int | None = None,
) -> list[dict[str, Counts]]:
    """Counts of ``params`` on every sequence at each detection interval (``bench.mot.
    with_interval``), ``[interval's position][sequence]``, in a pool as ``run_grid``."""
    jobs = [(i, params, n, report_lost, k) for i, k in enumerate(intervals) for n in names]
    # Few jobs of very different sizes: one at a time keeps the workers evenly busy.
    return _run(root, names, jobs, len(intervals), workers, chunksize=1)


def _run(
    root: Path,
    names: Sequence[str],
    jobs: Sequence[_Job],
    results: int,
    workers: int | None,
    chunksize: int,
) -> list[dict[str, Counts]]:
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    out: list[dict[str, Counts]] = [{} for _ in range(results)]
    if workers <= 1:
        _load(root, names)
        done: Iterable[tuple[int, str, Counts]] = map(_score, jobs)
        for i, name, counts in done:
            out[i][name] = counts
        return out
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(root, names)) as pool:
        for i, name, counts in pool.map(_score, jobs, chunksize=chunksize):
            out[i][name] = counts
    return out


def pooled(per_sequence: Mapping[str, Counts], names: Iterable[str]) -> Counts:
    return sum((per_sequence[n] for n in names), Counts())


# --- the protocol -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fold:
    chosen_on: tuple[str, ...]
    held_out: tuple[str, ...]
    params: TrackerParams
    train: Counts  # in-sample: the half the setting was chosen on
    test: Counts  # held out


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    folds: tuple[Fold, ...]
    held_out: Counts  # both folds' held-out events pooled: the cross-validated figure
    full_choice: TrackerParams  # chosen on every sequence
    full_in_sample: Counts


def choose(
    settings: Sequence[TrackerParams],
    counts: Sequence[Mapping[str, Counts]],
    names: Sequence[str],
    candidates: Sequence[int],
) -> int:
    """Index of the best candidate on ``names`` by ``objective``; the first on a tie."""
    return max(candidates, key=lambda i: (objective(pooled(counts[i], names)), -i))


def cross_validate(
    name: str,
    settings: Sequence[TrackerParams],
    counts: Sequence[Mapping[str, Counts]],
    candidates: Sequence[int],
) -> Protocol:
    folds = []
    for chosen_on, held_out in (FOLDS, FOLDS[::-1]):
        best = choose(settings, counts, chosen_on, candidates)
        folds.append(
            Fold(
                chosen_on,
                held_out,
                settings[best],
                pooled(counts[best], chosen_on),
                pooled(counts[best], held_out),
            )
        )
    everything = FOLDS[0] + FOLDS[1]
    best = choose(settings, counts, everything, candidates)
    return Protocol(
        name=name,
        folds=tuple(folds),
        held_out=folds[0].test + folds[1].test,
        full_choice=settings[best],
        full_in_sample=pooled(counts[best], everything),
    )


def differences(params: TrackerParams, reference: TrackerParams) -> str:
    """The fields of ``params`` that differ from ``reference``, as ``key=value``."""
    changed = [
        f"{f.name}={getattr(params, f.name)}"
        for f in dataclasses.fields(params)
        if getattr(params, f.name) != getattr(reference, f.name)
    ]
    return " ".join(changed) or "(same)"


def tuned_fields(params: TrackerParams) -> str:
    """The grid's fields of ``params``, as ``key=value``."""
    keys = ["high_confidence", "birth_confidence", *GRID]
    return " ".join(f"{k}={getattr(params, k)}" for k in keys)
