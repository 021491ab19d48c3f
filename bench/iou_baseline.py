"""The plain IoU tracker ``bench.eval_mot`` measures ``CameraTracker`` against.

Deliberately the simplest tracker that still links boxes over time, so the comparison shows
what the motion model and the track lifecycle of ``CameraTracker`` are worth:

* each frame, the live tracks' last boxes are matched to the frame's detections by optimal
  assignment (Hungarian, maximising total IoU) among pairs with IoU at least ``match_iou``
  (and above zero); classes are not looked at;
* no motion model: a matched track takes the detection's box as it is, and the next frame is
  matched against that box;
* a track dies on its first unmatched frame (no lost state, no bridging of a missed
  detection): an object missed for one frame comes back under a new id;
* every unmatched detection starts a track that is published at once (``min_hits`` 1), with
  the next integer id in detection order;
* detections below ``min_confidence`` are ignored.

Known consequence of having no motion model: at a crossing where one of the two objects is not
detected for a frame, the surviving track is carried by the detection it overlaps, and on the
next frame takes whichever detection overlaps its last box most, which may be the other object.

Output per frame: every live track, in id order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vigie_core.types import Box, FrameDetections


@dataclass(frozen=True, slots=True)
class IouTrackerParams:
    match_iou: float = 0.3
    """Same default as ``TrackerParams.match_iou``, so the two trackers gate alike."""

    min_confidence: float = 0.3
    """Detections below are ignored (the baseline has no second, low-score round)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.match_iou <= 1.0:
            raise ValueError(f"match_iou must be within [0, 1], got {self.match_iou}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within [0, 1], got {self.min_confidence}")


@dataclass(frozen=True, slots=True)
class BaselineTrack:
    track_id: int
    box: Box
    confidence: float


def _corners(boxes: list[Box]) -> np.ndarray:
    return np.array([(b.x1, b.y1, b.x2, b.y2) for b in boxes], dtype=float).reshape(-1, 4)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of corner arrays ``(n, 4)`` and ``(m, 4)``."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0.0, None) * np.clip(a[:, 3] - a[:, 1], 0.0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


class IouTracker:
    """Frame-to-frame IoU tracker for one camera; see the module docstring."""

    def __init__(self, params: IouTrackerParams = IouTrackerParams()) -> None:
        self.params = params
        self._tracks: list[BaselineTrack] = []  # live tracks, in id order
        self._next_id = 1

    def update(self, frame: FrameDetections) -> tuple[BaselineTrack, ...]:
        detections = [d for d in frame.detections if d.confidence >= self.params.min_confidence]
        matched: dict[int, int] = {}  # detection index -> track index
        if self._tracks and detections:
            iou = _iou(
                _corners([t.box for t in self._tracks]), _corners([d.box for d in detections])
            )
            allowed = (iou >= self.params.match_iou) & (iou > 0.0)
            rows, cols = linear_sum_assignment(np.where(allowed, iou, 0.0), maximize=True)
            matched = {int(c): int(r) for r, c in zip(rows, cols, strict=True) if allowed[r, c]}

        live: list[BaselineTrack] = []
        for j, detection in enumerate(detections):
            if j in matched:
                track_id = self._tracks[matched[j]].track_id
            else:
                track_id = self._next_id
                self._next_id += 1
            live.append(BaselineTrack(track_id, detection.box, detection.confidence))
        # Unmatched tracks are simply not carried over: they die on their first miss.
        self._tracks = sorted(live, key=lambda t: t.track_id)
        return tuple(self._tracks)
