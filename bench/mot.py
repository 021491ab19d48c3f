"""MOT15 ground truth and detections, and MOTChallenge scoring, for ``bench.eval_mot``.

Files are MOTChallenge text: one row per box, ``frame,id,x,y,w,h,score_or_flag,...`` in pixels
with ``(x, y)`` the top-left corner. Detections become the ``FrameDetections`` the tracking
service sees in production (normalised boxes, capture time from the frame's timestamp); the
trackers' outputs come back to pixels and are scored against the ground truth with
py-motmetrics under the MOTChallenge rules:

* a hypothesis matches a ground-truth box when their IoU is at least 0.5;
* ground-truth rows with flag (column 7) 0 are ignored, i.e. dropped before scoring;
* every other ground-truth row counts. In MOT15 columns 8-10 are world coordinates or -1, not
  the class and visibility of later MOTChallenge editions, so no class or visibility filter
  applies;
* the overall figures sum the events of all sequences (``compute_many(...,
  generate_overall=True)``), they are not a mean of per-sequence figures.

py-motmetrics 1.4.0's own IoU helper (``distances.iou_matrix``) and its file loaders are not
used: the helper calls ``np.asfarray``, gone in numpy 2. The distance matrix is built here and
fed to ``MOTAccumulator.update`` directly; files are parsed here too.
"""

from __future__ import annotations

import configparser
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import motmetrics as mm
import numpy as np
import pandas as pd

from vigie_core.types import Box, Detection, FrameDetections, FrameRef

MATCH_IOU = 0.5
"""MOTChallenge's matching threshold: IoU at least this much."""

DETECTIONS_FILE = Path("det") / "det_frcnn_sort.txt"
GROUND_TRUTH_FILE = Path("gt") / "gt.txt"
DETECTION_CLASS = "person"  # every MOT15 detection is a pedestrian

_COLUMNS = 10


@dataclass(frozen=True, slots=True)
class SequenceInfo:
    """What ``seqinfo.ini`` says about a sequence."""

    name: str
    frame_rate: float
    length: int
    width: int
    height: int

    def frame_time(self, frame: int) -> float:
        """Capture time of a 1-based frame, seconds from the sequence start."""
        return frame_time(frame, self.frame_rate)


@dataclass(frozen=True, slots=True)
class FrameBoxes:
    """Identified boxes of one frame, in pixels: ``ids`` (n,) and ``xywh`` (n, 4)."""

    ids: np.ndarray
    xywh: np.ndarray

    @classmethod
    def empty(cls) -> FrameBoxes:
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, 4)))

    @classmethod
    def of(cls, rows: Iterable[tuple[int, tuple[float, float, float, float]]]) -> FrameBoxes:
        """From ``(id, (x, y, w, h))`` pairs."""
        rows = list(rows)
        if not rows:
            return cls.empty()
        return cls(
            np.array([i for i, _ in rows], dtype=np.int64),
            np.array([xywh for _, xywh in rows], dtype=float).reshape(-1, 4),
        )

    def __len__(self) -> int:
        return len(self.ids)


Trajectories = Mapping[int, FrameBoxes]
"""Boxes by 1-based frame number; a frame absent from the mapping has no boxes."""


@dataclass(frozen=True, slots=True)
class Scores:
    """The headline MOTChallenge figures of one row of a summary (MOTA and IDF1 as fractions)."""

    mota: float
    idf1: float
    id_switches: int
    false_positives: int
    misses: int
    objects: int


# --- locating and reading the data -------------------------------------------------------------


def mot15_dir(samples_dir: Path) -> Path:
    return samples_dir / "mot15-train"


def list_sequences(root: Path) -> list[str]:
    """Names of the sequences under ``root`` (folders with a ``seqinfo.ini``), sorted."""
    return sorted(p.parent.name for p in root.glob("*/seqinfo.ini"))


def frame_time(frame: int, frame_rate: float) -> float:
    """Seconds from the start of the sequence to a 1-based frame: ``(frame - 1) / rate``."""
    return (frame - 1) / frame_rate


def read_seqinfo(seq_dir: Path) -> SequenceInfo:
    parser = configparser.ConfigParser()
    if not parser.read(seq_dir / "seqinfo.ini"):
        raise FileNotFoundError(f"no seqinfo.ini in {seq_dir}")
    section = parser["Sequence"]
    return SequenceInfo(
        name=section.get("name", seq_dir.name),
        frame_rate=section.getfloat("frameRate"),
        length=section.getint("seqLength"),
        width=section.getint("imWidth"),
        height=section.getint("imHeight"),
    )


def read_mot_rows(path: Path) -> np.ndarray:
    """A MOTChallenge text file as an ``(n, 10)`` float array (``(0, 10)`` if empty)."""
    text = path.read_text()
    if not text.strip():
        return np.zeros((0, _COLUMNS))
    rows = np.loadtxt(path, delimiter=",", ndmin=2, dtype=float)
    if rows.shape[1] < 7:
        raise ValueError(f"{path}: expected at least 7 columns, got {rows.shape[1]}")
    return rows


def load_ground_truth(path: Path) -> dict[int, FrameBoxes]:
    """Ground truth by frame, rows with flag (column 7) 0 dropped."""
    rows = read_mot_rows(path)
    rows = rows[rows[:, 6] != 0]
    return _by_frame(rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2:6])


def _by_frame(frames: np.ndarray, ids: np.ndarray, xywh: np.ndarray) -> dict[int, FrameBoxes]:
    out: dict[int, FrameBoxes] = {}
    for frame in np.unique(frames):
        mask = frames == frame
        out[int(frame)] = FrameBoxes(ids[mask], xywh[mask].reshape(-1, 4))
    return out


def pixels_to_box(x: float, y: float, w: float, h: float, width: int, height: int) -> Box:
    """A pixel ``x, y, w, h`` box (top-left corner) as a normalised ``Box``. Not clipped: a box
    reaching past the frame keeps its extent (MOT15's detections all lie inside the frame)."""
    return Box(x / width, y / height, (x + w) / width, (y + h) / height)


def box_to_pixels(box: Box, width: int, height: int) -> tuple[float, float, float, float]:
    """A normalised ``Box`` as a pixel ``x, y, w, h`` box, the inverse of ``pixels_to_box``."""
    return (box.x1 * width, box.y1 * height, box.width * width, box.height * height)


def load_detections(
    path: Path, info: SequenceInfo, camera_id: str | None = None
) -> list[FrameDetections]:
    """One ``FrameDetections`` per frame ``1..length``, empty frames included (they are what
    tells a tracker that time passed), in frame order. Rows are ``frame,-1,x,y,w,h,score,...``
    in pixels; boxes are normalised by the frame size, the capture time is
    ``(frame - 1) / frameRate`` and ``FrameRef.sequence`` is the frame number."""
    rows = read_mot_rows(path)
    camera = camera_id or info.name
    per_frame: dict[int, list[Detection]] = {}
    for frame, x, y, w, h, score in rows[:, [0, 2, 3, 4, 5, 6]]:
        box = pixels_to_box(x, y, w, h, info.width, info.height)
        per_frame.setdefault(int(frame), []).append(
            Detection(box=box, class_name=DETECTION_CLASS, confidence=float(score))
        )
    outside = sorted(f for f in per_frame if not 1 <= f <= info.length)
    if outside:
        raise ValueError(f"{path}: frames {outside[:5]} outside 1..{info.length}")
    return [
        FrameDetections(
            frame=FrameRef(
                camera_id=camera,
                sequence=frame,
                captured_at=info.frame_time(frame),
                width=info.width,
                height=info.height,
            ),
            detections=tuple(per_frame.get(frame, ())),
            model=DETECTIONS_FILE.name,
        )
        for frame in range(1, info.length + 1)
    ]


def with_interval(frames: Sequence[FrameDetections], interval: int) -> list[FrameDetections]:
    """``frames`` as a detection service running its model on every ``interval``-th frame of
    the camera publishes them: frames 1, 1 + k, 1 + 2k, ... (``FrameRef.sequence`` is the frame
    number) keep their detections; every other frame becomes *carried*, with no detections,
    since the model never looked at it. Interval 1 returns the frames as they are."""
    if interval < 1:
        raise ValueError(f"the detection interval is at least 1, got {interval}")
    return [
        f
        if (f.frame.sequence - 1) % interval == 0
        else dataclasses.replace(f, detections=(), carried=True)
        for f in frames
    ]


# --- scoring -----------------------------------------------------------------------------------


def iou_pixels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(n, 4)`` and ``(m, 4)`` pixel ``x, y, w, h`` arrays, ``(n, m)``."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None, :]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(ay2[:, None], by2[None, :]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = np.clip(a[:, 2], 0.0, None) * np.clip(a[:, 3], 0.0, None)
    area_b = np.clip(b[:, 2], 0.0, None) * np.clip(b[:, 3], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def iou_distances(
    gt_xywh: np.ndarray, hyp_xywh: np.ndarray, min_iou: float = MATCH_IOU
) -> np.ndarray:
    """The distance matrix ``MOTAccumulator.update`` takes: ``1 - IoU``, NaN (may not match)
    where IoU is below ``min_iou``. The test is on the IoU itself, so exactly 0.5 matches."""
    iou = iou_pixels(gt_xywh, hyp_xywh)
    return np.where(iou >= min_iou, 1.0 - iou, np.nan)


def accumulate(
    ground_truth: Trajectories, hypotheses: Trajectories, frames: Iterable[int]
) -> mm.MOTAccumulator:
    """Feeds every frame (in order) to a fresh accumulator."""
    acc = mm.MOTAccumulator(auto_id=False)
    empty = FrameBoxes.empty()
    for frame in frames:
        gt = ground_truth.get(frame, empty)
        hyp = hypotheses.get(frame, empty)
        acc.update(gt.ids, hyp.ids, iou_distances(gt.xywh, hyp.xywh), frameid=frame)
    return acc


def summarise(accumulators: Mapping[str, mm.MOTAccumulator]) -> pd.DataFrame:
    """MOTChallenge metrics (plus the number of ground-truth boxes), one row per sequence and
    ``OVERALL`` (events of all sequences together)."""
    handler = mm.metrics.create()
    return handler.compute_many(
        list(accumulators.values()),
        metrics=[*mm.metrics.motchallenge_metrics, "num_objects"],
        names=list(accumulators),
        generate_overall=True,
    )


def scores(summary: pd.DataFrame, row: str) -> Scores:
    values = summary.loc[row]
    return Scores(
        mota=float(values["mota"]),
        idf1=float(values["idf1"]),
        id_switches=int(values["num_switches"]),
        false_positives=int(values["num_false_positives"]),
        misses=int(values["num_misses"]),
        objects=int(values["num_objects"]),
    )
