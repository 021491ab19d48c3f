"""Detection back-ends: the code that actually runs a model on pixels."""

from vigie_detection.adapters.detector import Detector, ModelDetector
from vigie_detection.adapters.factory import BACKENDS, DetectorConfig, build_detector
from vigie_detection.adapters.yolo_opencv import PERSON_AND_VEHICLES, YoloOpenCvDetector
from vigie_runtime.images import InvalidImage, decode_jpeg

__all__ = [
    "BACKENDS",
    "PERSON_AND_VEHICLES",
    "Detector",
    "DetectorConfig",
    "InvalidImage",
    "ModelDetector",
    "YoloOpenCvDetector",
    "build_detector",
    "decode_jpeg",
]
