"""Network rows to detections: threshold, class filter, per-class NMS, back to the frame.

Every backend and head family first brings its output to one row layout (see ``ROW``), so this
step is written once. Boxes stay in floating point until they are normalised to the original
frame and clipped to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigie_core.types import Box, Detection
from vigie_detection.models.preprocess import Geometry

# A row: cx, cy, w, h relative to the network input (0..1), objectness, then one score per
# class that already includes the objectness (objectness x class probability).
BOX_COLUMNS = 4
FIRST_SCORE_COLUMN = 5


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Confidence below which a box is dropped, and the IoU above which NMS suppresses one."""

    confidence: float = 0.4
    nms: float = 0.45

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence <= 1.0:
            raise ValueError(f"confidence must be in (0, 1], got {self.confidence}")
        if not 0.0 < self.nms <= 1.0:
            raise ValueError(f"nms must be in (0, 1], got {self.nms}")


def to_corners(cxcywh: np.ndarray) -> np.ndarray:
    cx, cy, w, h = cxcywh[:, 0], cxcywh[:, 1], cxcywh[:, 2], cxcywh[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def nms_per_class(
    corners: np.ndarray, confidences: np.ndarray, class_ids: np.ndarray, nms: float
) -> list[int]:
    """Suppress overlaps within a class only: a cyclist and the bicycle under them both stay.

    IoU is unchanged by scaling each axis, so normalised boxes suppress exactly as pixels do.
    """
    if len(corners) == 0:
        return []
    xywh = np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)
    indices = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(),
        confidences.astype(float).tolist(),
        class_ids.astype(int).tolist(),
        0.0,  # already thresholded; NMS compares with ">" and would drop ties at the threshold
        nms,
    )
    return [int(i) for i in np.asarray(indices).reshape(-1)]


def detections_from_rows(
    rows: np.ndarray,
    geometry: Geometry,
    class_names: tuple[str, ...],
    allowed: np.ndarray,
    thresholds: Thresholds,
) -> tuple[Detection, ...]:
    """Detections on one frame, most confident first, boxes normalised to that frame.

    ``allowed`` is a boolean mask over ``class_names``. Filtering happens after the argmax: a
    box keeps the class the network believes most, never a runner-up from the allowed set.
    """
    scores = rows[:, FIRST_SCORE_COLUMN:]
    class_ids = scores.argmax(axis=1)
    confidences = scores[np.arange(len(rows)), class_ids]
    keep = (confidences >= thresholds.confidence) & allowed[class_ids]
    if not keep.any():
        return ()
    corners = geometry.to_frame(to_corners(rows[keep, :BOX_COLUMNS].astype(np.float64)))
    class_ids, confidences = class_ids[keep], confidences[keep]
    valid = (corners[:, 2] > corners[:, 0]) & (corners[:, 3] > corners[:, 1])
    corners, class_ids, confidences = corners[valid], class_ids[valid], confidences[valid]
    picked = nms_per_class(corners, confidences, class_ids, thresholds.nms)
    picked = sorted(picked, key=lambda i: -float(confidences[i]))
    return tuple(
        Detection(
            box=Box(*(float(v) for v in corners[i])),
            class_name=class_names[int(class_ids[i])],
            confidence=float(confidences[i]),
        )
        for i in picked
    )
