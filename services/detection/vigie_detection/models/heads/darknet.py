"""Decoding raw Darknet/YOLOv4 head maps (the inputs of ``[yolo]`` layers) into rows.

The same maths as the ``YoloLayer`` of the torch model, in numpy, for bring-your-own ONNX files
exported without the decode. Each map is (batch, anchors x (5 + classes), h, w).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vigie_detection.models.errors import ModelUnsupported
from vigie_detection.models.manifest import DarknetHeadSpec


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def decode_map(
    head: np.ndarray,
    anchors: np.ndarray,
    scale_x_y: float,
    classes: int,
    input_hw: tuple[int, int],
) -> np.ndarray:
    """One YOLO layer: map (n, A*(5+C), h, w) -> rows (n, h*w*A, 5+C), by cell then anchor."""
    n, channels, h, w = head.shape
    per_box = 5 + classes
    num = len(anchors)
    if channels != num * per_box:
        raise ModelUnsupported(
            f"a head map has {channels} channels; {num} anchors x (5 + {classes} classes) "
            f"= {num * per_box} were expected: check masks and classes in the manifest"
        )
    x = head.astype(np.float32).reshape(n, num, per_box, h, w).transpose(0, 3, 4, 1, 2)
    ys = np.arange(h, dtype=np.float32).reshape(h, 1, 1)
    xs = np.arange(w, dtype=np.float32).reshape(1, w, 1)
    xy = _sigmoid(x[..., 0:2]) * scale_x_y - (scale_x_y - 1.0) / 2.0
    rows = np.empty_like(x)
    rows[..., 0] = (xy[..., 0] + xs) / w
    rows[..., 1] = (xy[..., 1] + ys) / h
    rows[..., 2] = np.exp(x[..., 2]) * anchors[:, 0] / input_hw[1]
    rows[..., 3] = np.exp(x[..., 3]) * anchors[:, 1] / input_hw[0]
    objectness = _sigmoid(x[..., 4:5])
    rows[..., 4:5] = objectness
    rows[..., 5:] = _sigmoid(x[..., 5:]) * objectness
    return rows.reshape(n, -1, per_box)


def decode_raw(
    heads: Sequence[np.ndarray], spec: DarknetHeadSpec, classes: int, input_hw: tuple[int, int]
) -> np.ndarray:
    """All YOLO layers of a network, in manifest mask order, concatenated into one row set."""
    if len(heads) != len(spec.masks):
        raise ModelUnsupported(
            f"the ONNX file has {len(heads)} outputs but the manifest gives {len(spec.masks)} "
            f"masks (one per YOLO layer)"
        )
    anchors = np.asarray(spec.anchors, dtype=np.float32)
    scales = spec.scale_x_y or (1.0,) * len(spec.masks)
    rows = [
        decode_map(head, anchors[list(mask)], scale, classes, input_hw)
        for head, mask, scale in zip(heads, spec.masks, scales, strict=True)
    ]
    return np.concatenate(rows, axis=1)
