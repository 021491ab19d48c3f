"""Detection back-ends: the code that actually runs a model on pixels."""

from vigie_detection.adapters.yolo_opencv import (
    PERSON_AND_VEHICLES,
    InvalidImage,
    YoloOpenCvDetector,
    decode_jpeg,
)

__all__ = ["PERSON_AND_VEHICLES", "InvalidImage", "YoloOpenCvDetector", "decode_jpeg"]
