"""The OpenCV DNN backend: Darknet cfg/weights read and run by OpenCV on the CPU.

It needs no runtime beyond OpenCV, which the pipeline has anyway, so it is the default. Its
YOLO layers already produce rows in the shared layout, with one difference: OpenCV zeroes class
scores of 0.2 and under inside the network, so with a confidence threshold below 0.2 it reports
fewer boxes than the torch and onnxruntime backends (at 0.2 and above they agree).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vigie_detection.models.errors import ModelCorrupt


class OpenCvDarknetNetwork:
    """A Darknet network in OpenCV's own CPU backend. ``threads`` is process-wide in OpenCV."""

    backend = "opencv"
    max_batch: int | None = None

    def __init__(self, cfg: Path, weights: Path, threads: int | None = None) -> None:
        try:
            net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        except cv2.error as exc:
            raise ModelCorrupt(
                f"OpenCV could not load the model from {cfg} and {weights}: {exc}"
            ) from exc
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        if threads is not None:
            cv2.setNumThreads(threads)
        self._net = net
        self._out_names = list(net.getUnconnectedOutLayersNames())

    def forward(self, batch: np.ndarray) -> np.ndarray:
        self._net.setInput(np.ascontiguousarray(batch, dtype=np.float32))
        outputs = self._net.forward(self._out_names)
        # One image gives (rows, values) per YOLO layer, several give (batch, rows, values).
        n = len(batch)
        return np.concatenate([out.reshape(n, -1, out.shape[-1]) for out in outputs], axis=1)
