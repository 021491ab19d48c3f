"""Matching predicted track boxes to a frame's detections.

One optimal assignment (Hungarian, ``scipy.optimize.linear_sum_assignment``) over IoU, gated so
that a pair below the IoU threshold or across classes can never be chosen: gating first means the
solver never trades a good pair for a poor one to raise the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vigie_core.types import Box


@dataclass(frozen=True, slots=True)
class Association:
    """Result of matching: ``(track index, detection index)`` pairs and the leftovers, each in
    ascending order so callers iterate deterministically."""

    matches: tuple[tuple[int, int], ...]
    unmatched_tracks: tuple[int, ...]
    unmatched_detections: tuple[int, ...]


def boxes_to_array(boxes: Sequence[Box]) -> np.ndarray:
    """``(n, 4)`` array of ``x1, y1, x2, y2``; ``(0, 4)`` for no boxes."""
    if not boxes:
        return np.zeros((0, 4))
    return np.array([(b.x1, b.y1, b.x2, b.y2) for b in boxes], dtype=float)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(n, 4)`` and ``(m, 4)`` box arrays as an ``(n, m)`` matrix.

    Agrees with ``Box.iou``: areas of inverted boxes count as zero and an empty union gives 0.
    """
    a = a.reshape(-1, 4)
    b = b.reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0.0, None) * np.clip(iy2 - iy1, 0.0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0.0, None) * np.clip(a[:, 3] - a[:, 1], 0.0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def associate(
    track_boxes: Sequence[Box],
    track_classes: Sequence[str],
    detection_boxes: Sequence[Box],
    detection_classes: Sequence[str],
    min_iou: float,
) -> Association:
    """Optimal one-to-one matching of tracks to detections of the same class with IoU at least
    ``min_iou`` (and above zero: boxes that do not overlap are never the same object here)."""
    n_tracks, n_detections = len(track_boxes), len(detection_boxes)
    if n_tracks == 0 or n_detections == 0:
        return Association((), tuple(range(n_tracks)), tuple(range(n_detections)))

    iou = iou_matrix(boxes_to_array(track_boxes), boxes_to_array(detection_boxes))
    same_class = (
        np.asarray(track_classes, dtype=object)[:, None]
        == np.asarray(detection_classes, dtype=object)[None, :]
    )
    allowed = same_class & (iou >= min_iou) & (iou > 0.0)
    rows, cols = linear_sum_assignment(np.where(allowed, iou, 0.0), maximize=True)

    matches = tuple((int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c])
    matched_tracks = {r for r, _ in matches}
    matched_detections = {c for _, c in matches}
    return Association(
        matches=matches,
        unmatched_tracks=tuple(i for i in range(n_tracks) if i not in matched_tracks),
        unmatched_detections=tuple(j for j in range(n_detections) if j not in matched_detections),
    )
