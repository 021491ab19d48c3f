"""The independent reference both agreement tests use: OpenCV's own Darknet reader
(`cv2.dnn_DetectionModel`) with its standard post-processing, and the matching criterion."""

from __future__ import annotations

import cv2
import numpy as np

from vigie_core.types import Box, Detection

SIZE, CONFIDENCE, NMS = 416, 0.4, 0.45


def reference_detections(
    model: cv2.dnn.DetectionModel, names: tuple[str, ...], image: np.ndarray
) -> list[Detection]:
    class_ids, confidences, boxes = model.detect(image, CONFIDENCE, NMS)
    height, width = image.shape[:2]
    found = []
    for class_id, confidence, (x, y, w, h) in zip(
        np.asarray(class_ids).reshape(-1),
        np.asarray(confidences).reshape(-1),
        np.asarray(boxes).reshape(-1, 4),
        strict=True,
    ):
        box = Box(x / width, y / height, (x + w) / width, (y + h) / height)
        found.append(Detection(box, names[int(class_id)], float(confidence)))
    return found


def matched(wanted: Detection, pool: tuple[Detection, ...] | list[Detection]) -> bool:
    """Same class and IoU >= 0.9 with some box of ``pool``."""
    return any(d.class_name == wanted.class_name and d.box.iou(wanted.box) >= 0.9 for d in pool)
