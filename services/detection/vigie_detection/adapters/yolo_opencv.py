"""Object detection with the Darknet yolov4-tiny COCO model, run by OpenCV's DNN module.

OpenCV's own CPU backend is used so that detection needs no GPU, no extra runtime and no network.
Post-processing is written out here (rather than hidden in ``cv2.dnn_DetectionModel``) so that
boxes stay in floating point up to the moment they are normalised; the integration tests compare
it against ``cv2.dnn_DetectionModel`` as an independent reference.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import cv2
import numpy as np

from vigie_core.types import Box, Detection
from vigie_detection.model_files import ModelCorrupt, ModelFiles, read_class_names, verify

# What the pipeline watches by default. coco.names spells it "motorbike", not "motorcycle".
PERSON_AND_VEHICLES = frozenset({"person", "bicycle", "car", "motorbike", "bus", "truck"})

# Darknet rows are [cx, cy, w, h, objectness, score per class], all relative to the input.
_BOX_COLUMNS = 4
_FIRST_SCORE_COLUMN = 5


class InvalidImage(ValueError):
    """The bytes or array handed to the detector are not a picture it can run on."""


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode JPEG (or any format OpenCV reads) bytes into a BGR image.

    Frames cross process boundaries as JPEG; a garbled payload must be a clear, catchable error
    for the caller to report, not a ``None`` that fails three calls later.
    """
    if not data:
        raise InvalidImage("image payload is empty")
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise InvalidImage(f"image payload of {len(data)} bytes does not decode: {exc}") from exc
    if image is None or image.size == 0:
        raise InvalidImage(f"image payload of {len(data)} bytes does not decode as an image")
    return image


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """Accept grey and BGRA frames too: some cameras deliver them and the network wants 3 planes."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise InvalidImage("image is empty or not a numpy array")
    if image.dtype != np.uint8:
        raise InvalidImage(f"image must be 8-bit, got {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise InvalidImage(f"image must be HxW, HxWx3 or HxWx4, got shape {image.shape}")


def _load_net(files: ModelFiles) -> cv2.dnn.Net:
    try:
        net = cv2.dnn.readNetFromDarknet(str(files.cfg), str(files.weights))
    except cv2.error as exc:
        raise ModelCorrupt(
            f"OpenCV could not load the model from {files.cfg} and {files.weights}: {exc}"
        ) from exc
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return net


def _check_settings(input_size: int, confidence: float, nms: float) -> None:
    if input_size <= 0 or input_size % 32:
        raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
    if not 0.0 < confidence <= 1.0:
        raise ValueError(f"confidence must be in (0, 1], got {confidence}")
    if not 0.0 < nms <= 1.0:
        raise ValueError(f"nms must be in (0, 1], got {nms}")


class YoloOpenCvDetector:
    """yolov4-tiny on OpenCV DNN; returns COCO-named detections in normalised coordinates.

    One instance holds one network, which OpenCV does not allow to run concurrently, so
    ``detect`` is serialised by a lock: a gRPC server and a consumer loop may share an instance.
    ``threads`` sets OpenCV's worker-thread count, which is process-wide, not per instance.
    """

    def __init__(
        self,
        files: ModelFiles,
        input_size: int = 416,
        confidence: float = 0.4,
        nms: float = 0.45,
        classes: frozenset[str] | None = None,
        threads: int | None = None,
    ) -> None:
        _check_settings(input_size, confidence, nms)
        verify(files)
        self._names = read_class_names(files.names)
        if classes is not None:
            unknown = sorted(set(classes) - set(self._names))
            if unknown:
                # A misspelt class ("motorcycle") would otherwise filter everything out silently.
                raise ValueError(f"unknown class names {unknown}; known names are in {files.names}")
        if threads is not None:
            cv2.setNumThreads(threads)
        self._files = files
        self._input_size = input_size
        self._confidence = confidence
        self._nms = nms
        self._allowed = self._class_mask(classes)
        self._classes = frozenset(classes) if classes is not None else frozenset(self._names)
        self._lock = threading.Lock()
        self._net = _load_net(files)
        self._out_names = list(self._net.getUnconnectedOutLayersNames())
        self._warm_up()

    @property
    def name(self) -> str:
        """Model identity recorded with every result, so results from different sizes never mix."""
        return f"{self._files.model_name}@{self._input_size}"

    @property
    def classes(self) -> frozenset[str]:
        return self._classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._names

    def _class_mask(self, classes: frozenset[str] | None) -> np.ndarray:
        if classes is None:
            return np.ones(len(self._names), dtype=bool)
        return np.array([name in classes for name in self._names], dtype=bool)

    def _warm_up(self) -> None:
        """Run once at start-up: allocates OpenCV's buffers and proves the cfg matches the names."""
        blank = np.zeros((self._input_size, self._input_size, 3), dtype=np.uint8)
        rows = self._forward(blank)
        expected = _FIRST_SCORE_COLUMN + len(self._names)
        if rows.shape[1] != expected:
            raise ModelCorrupt(
                f"network {self._files.cfg} outputs {rows.shape[1] - _FIRST_SCORE_COLUMN} classes "
                f"but {self._files.names} lists {len(self._names)}"
            )

    def _forward(self, image_bgr: np.ndarray) -> np.ndarray:
        # Darknet was trained on RGB scaled to 0..1 and stretched (not letterboxed) to the input.
        blob = cv2.dnn.blobFromImage(
            image_bgr,
            scalefactor=1.0 / 255.0,
            size=(self._input_size, self._input_size),
            swapRB=True,
            crop=False,
        )
        self._net.setInput(blob)
        outputs: Sequence[np.ndarray] = self._net.forward(self._out_names)
        return np.concatenate([out.reshape(-1, out.shape[-1]) for out in outputs], axis=0)

    def detect(self, image_bgr: np.ndarray) -> tuple[Detection, ...]:
        """Detections on one BGR frame, most confident first, boxes normalised to that frame."""
        image = _as_bgr(image_bgr)
        with self._lock:
            rows = self._forward(image)
        return self._postprocess(rows)

    def _postprocess(self, rows: np.ndarray) -> tuple[Detection, ...]:
        scores = rows[:, _FIRST_SCORE_COLUMN:]
        class_ids = scores.argmax(axis=1)
        confidences = scores[np.arange(len(rows)), class_ids]
        # Filter after argmax: a box keeps the class the network believes most, never a runner-up.
        keep = (confidences >= self._confidence) & self._allowed[class_ids]
        if not keep.any():
            return ()
        corners = _clipped_corners(rows[keep, :_BOX_COLUMNS])
        class_ids, confidences = class_ids[keep], confidences[keep]
        valid = (corners[:, 2] > corners[:, 0]) & (corners[:, 3] > corners[:, 1])
        corners, class_ids, confidences = corners[valid], class_ids[valid], confidences[valid]
        picked = self._nms_per_class(corners, confidences, class_ids)
        picked = sorted(picked, key=lambda i: -float(confidences[i]))
        return tuple(
            Detection(
                box=Box(*(float(v) for v in corners[i])),
                class_name=self._names[int(class_ids[i])],
                confidence=float(confidences[i]),
            )
            for i in picked
        )

    def _nms_per_class(
        self, corners: np.ndarray, confidences: np.ndarray, class_ids: np.ndarray
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
            self._nms,
        )
        return [int(i) for i in np.asarray(indices).reshape(-1)]


def _clipped_corners(cxcywh: np.ndarray) -> np.ndarray:
    """Centre/size boxes to corner boxes clipped to the frame; the input is the stretched frame,
    so input-relative coordinates are already frame-relative."""
    cx, cy, w, h = cxcywh[:, 0], cxcywh[:, 1], cxcywh[:, 2], cxcywh[:, 3]
    corners = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return np.clip(corners, 0.0, 1.0).astype(np.float64)
