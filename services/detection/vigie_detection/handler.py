"""Frame in, detections out. The model is injected, so this runs the same in a test."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from vigie.v1 import frames_pb2
from vigie_core.types import Detection, FrameDetections
from vigie_detection.adapters.detector import Detector
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import DETECTIONS

ClassFilter = Callable[[str, tuple[Detection, ...]], tuple[Detection, ...]]


def keep_all(camera_id: str, detections: tuple[Detection, ...]) -> tuple[Detection, ...]:
    return detections


class DetectionHandler:
    def __init__(
        self,
        detector: Detector,
        decode_image: Callable[[bytes], np.ndarray],
        class_filter: ClassFilter = keep_all,
    ) -> None:
        self.detector = detector
        self.decode_image = decode_image
        self.class_filter = class_filter

    def decode(self, message: Message) -> frames_pb2.Frame:
        return codec.decode_frame(message.value)

    def handle(self, frame: frames_pb2.Frame, message: Message) -> Sequence[Output]:
        image = self.decode_image(frame.jpeg)
        found = self.class_filter(frame.camera_id, self.detector.detect(image))
        result = FrameDetections(
            frame=codec.frame_ref_of(frame), detections=found, model=self.detector.name
        )
        value = codec.encode(codec.detections_to_proto(result))
        return [Output(DETECTIONS, frame.camera_id, value)]
