"""yolov4-tiny COCO on OpenCV's DNN module, built from the files of the installed wheel.

OpenCV's own CPU backend is used so that detection needs no GPU, no extra runtime and no network.
This is the original entry point of the detection service, kept for callers that hold
``ModelFiles``; it is the shared ``ModelDetector`` on the OpenCV backend, with the same
pre/post-processing as every other backend (see ``adapters.factory`` to choose a backend and a
model by name). The integration tests compare it against ``cv2.dnn_DetectionModel`` as an
independent reference.
"""

from __future__ import annotations

from vigie_detection.adapters.detector import ModelDetector
from vigie_detection.adapters.opencv_dnn import OpenCvDarknetNetwork
from vigie_detection.model_files import ModelFiles, read_class_names, verify
from vigie_detection.models.manifest import InputSpec
from vigie_detection.models.postprocess import Thresholds
from vigie_runtime.images import InvalidImage, as_bgr, decode_jpeg

__all__ = [
    "DARKNET_INPUT",
    "PERSON_AND_VEHICLES",
    "InvalidImage",
    "YoloOpenCvDetector",
    "as_bgr",
    "decode_jpeg",
]

# What the pipeline watches by default. coco.names spells it "motorbike", not "motorcycle".
PERSON_AND_VEHICLES = frozenset({"person", "bicycle", "car", "motorbike", "bus", "truck"})

# Darknet trains on frames stretched (not letterboxed) to the input, RGB, scaled to 0..1.
DARKNET_INPUT = InputSpec(size=(416, 416), resize="stretch", colour="rgb", scale=1.0 / 255.0)


def _check_settings(input_size: int, confidence: float, nms: float) -> None:
    if input_size <= 0 or input_size % 32:
        raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
    Thresholds(confidence, nms)


class YoloOpenCvDetector(ModelDetector):
    """yolov4-tiny on OpenCV DNN; returns COCO-named detections in normalised coordinates.

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
        names = read_class_names(files.names)
        if classes is not None:
            unknown = sorted(set(classes) - set(names))
            if unknown:
                # Checked before the network loads: a typo should fail fast.
                raise ValueError(f"unknown class names {unknown}; known names are in {files.names}")
        self._files = files
        super().__init__(
            OpenCvDarknetNetwork(files.cfg, files.weights, threads),
            model_name=files.model_name,
            class_names=names,
            input_spec=DARKNET_INPUT,
            input_size=(input_size, input_size),
            thresholds=Thresholds(confidence, nms),
            classes=classes,
            names_source=str(files.names),
        )
