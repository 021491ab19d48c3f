"""Matching predicted track boxes to a frame's detections.

One optimal assignment (Hungarian, ``scipy.optimize.linear_sum_assignment``) over a similarity
(IoU, possibly adjusted), gated so that a pair below the IoU threshold or across classes can
never be chosen: gating first means the solver never trades a good pair for a poor one to raise
the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vigie_core.types import Box

# Added to a union before dividing by it. A union is zero only when both boxes have no area,
# and then so is the intersection: this turns 0 / 0 into 0 without an error state, and is far
# below the area of any real box, so it changes no other ratio.
_TINY_AREA = 1e-300


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
    (Runs on every track every frame: written for few numpy calls on the ``(n, m)`` arrays,
    ``maximum`` rather than ``clip``, whose Python wrapper costs more than the arithmetic.)
    """
    a = a.reshape(-1, 4)
    b = b.reshape(-1, 4)
    return _iou(a[:, None, :], b[None, :, :], _areas(a)[:, None], _areas(b)[None, :])


def buffered_iou_matrix(a: np.ndarray, b: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """IoU of ``(n, 4)`` and ``(m, 4)`` boxes after widening both boxes of each pair ``(i, j)``
    by ``margins[i]`` of their own width and height on every side (centres and aspects kept).

    Widening both keeps two equal boxes at IoU 1 while letting boxes that are near but no
    longer overlapping (a prediction that drifted) overlap again: the looser the margin, the
    farther a detection may be from where the track was expected.
    """
    a = a.reshape(-1, 4)
    b = b.reshape(-1, 4)
    grow = margins.reshape(-1, 1, 1)  # (n, 1, 1)
    scale = (1.0 + 2.0 * grow[:, :, 0]) ** 2  # (n, 1): how much each area grows
    wide_a = a[:, None, :] + grow * _outward(a)[:, None, :]  # (n, 1, 4)
    wide_b = b[None, :, :] + grow * _outward(b)[None, :, :]  # (n, m, 4)
    return _iou(wide_a, wide_b, _areas(a)[:, None] * scale, _areas(b)[None, :] * scale)


def _areas(boxes: np.ndarray) -> np.ndarray:
    """``(n,)`` areas of ``(n, 4)`` boxes, inverted ones counting as zero."""
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)


def _outward(boxes: np.ndarray) -> np.ndarray:
    """``(n, 4)``: ``-w, -h, w, h`` of each box, the direction in which each coordinate moves
    when the box widens by its own size."""
    size = np.maximum(boxes[:, 2:] - boxes[:, :2], 0.0)
    return np.concatenate([-size, size], axis=1)


def _iou(a: np.ndarray, b: np.ndarray, area_a: np.ndarray, area_b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a`` and ``b`` (``x1, y1, x2, y2`` along the last axis, broadcasting to
    ``(n, m, 4)``) of the given areas (broadcasting to ``(n, m)``)."""
    ix = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    iy = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.maximum(ix, 0.0, out=ix) * np.maximum(iy, 0.0, out=iy)
    union = (area_a + _TINY_AREA) + (area_b - inter)
    return np.divide(inter, union, out=inter)


def match(similarity: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one matching maximising the total ``similarity`` over ``allowed`` pairs
    only, both ``(n_tracks, n_detections)``; the similarity of every allowed pair must be
    positive (as ``gate`` ensures for IoU). Returns the matched rows and columns, pair by
    pair, rows ascending."""
    if allowed.size == 0 or not allowed.any():
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    # Allowed pairs have a positive similarity, so zero marks the others.
    rows, cols = linear_sum_assignment(np.where(allowed, similarity, 0.0), maximize=True)
    keep = allowed[rows, cols]
    return rows[keep], cols[keep]


def assign(similarity: np.ndarray, allowed: np.ndarray) -> Association:
    """``match`` as pairs and leftovers."""
    n_tracks, n_detections = allowed.shape
    rows, cols = match(similarity, allowed)
    track_free = np.ones(n_tracks, dtype=bool)
    track_free[rows] = False
    detection_free = np.ones(n_detections, dtype=bool)
    detection_free[cols] = False
    return Association(
        matches=tuple(zip(rows.tolist(), cols.tolist(), strict=True)),
        unmatched_tracks=tuple(np.flatnonzero(track_free).tolist()),
        unmatched_detections=tuple(np.flatnonzero(detection_free).tolist()),
    )


def gate(iou: np.ndarray, min_iou: float, same_class: np.ndarray | None) -> np.ndarray:
    """Pairs that may match: IoU at least ``min_iou`` and above zero (boxes that do not overlap
    are never the same object here), and of the same class where ``same_class`` is given."""
    allowed = iou >= min_iou if min_iou > 0.0 else iou > 0.0
    return allowed if same_class is None else allowed & same_class


def same_class_matrix(
    track_classes: Sequence[str], detection_classes: Sequence[str]
) -> np.ndarray | None:
    """``(n, m)`` class equality, or None when every track and detection share one class (the
    common case, which then costs nothing)."""
    if len(set(track_classes).union(detection_classes)) <= 1:
        return None
    return (
        np.asarray(track_classes, dtype=object)[:, None]
        == np.asarray(detection_classes, dtype=object)[None, :]
    )


def associate(
    track_boxes: Sequence[Box],
    track_classes: Sequence[str],
    detection_boxes: Sequence[Box],
    detection_classes: Sequence[str],
    min_iou: float,
) -> Association:
    """Optimal one-to-one matching of tracks to detections of the same class with IoU at least
    ``min_iou`` (and above zero)."""
    iou = iou_matrix(boxes_to_array(track_boxes), boxes_to_array(detection_boxes))
    if iou.size == 0:
        return assign(iou, iou > 0)
    return assign(iou, gate(iou, min_iou, same_class_matrix(track_classes, detection_classes)))
