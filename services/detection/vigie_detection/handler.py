"""Frame in, detections out. The model is injected, so this runs the same in a test.

After the model, each camera's class filter, then the colour of each vehicle, read from the
decoded frame while it is still in memory (frames are not kept anywhere after this stage).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from vigie.v1 import frames_pb2
from vigie_core.types import Detection, FrameDetections
from vigie_detection.adapters.detector import Detector
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.image_header import ImageLimits
from vigie_runtime.topics import DETECTIONS

ClassFilter = Callable[[str, tuple[Detection, ...]], tuple[Detection, ...]]
# Adds what the pixels say about each detection (a vehicle's colour) to the detections of an image.
Annotator = Callable[[np.ndarray, tuple[Detection, ...]], tuple[Detection, ...]]


def keep_all(camera_id: str, detections: tuple[Detection, ...]) -> tuple[Detection, ...]:
    return detections


def as_found(image: np.ndarray, detections: tuple[Detection, ...]) -> tuple[Detection, ...]:
    return detections


class DetectionHandler:
    """One frame at a time: the building blocks the batching stage reuses, and a plain ``handle``
    for callers that want a frame detected on its own."""

    def __init__(
        self,
        detector: Detector,
        decode_image: Callable[[bytes], np.ndarray],
        class_filter: ClassFilter = keep_all,
        annotate: Annotator = as_found,
        image_limits: ImageLimits | None = None,
    ) -> None:
        """``image_limits`` bounds the size a frame may declare; ``decode_image`` must check
        the image's own header against the same limits (``images.decode_jpeg`` does)."""
        self.detector = detector
        self.decode_image = decode_image
        self.class_filter = class_filter
        self.annotate = annotate
        self.image_limits = image_limits or ImageLimits()

    def decode(self, message: Message) -> frames_pb2.Frame:
        """A frame keyed by another camera than its own, or declaring a size above the
        limits, is refused here, before its image is looked at."""
        return codec.decode_frame(message.value, key=message.key, limits=self.image_limits)

    def output_for(
        self, frame: frames_pb2.Frame, image: np.ndarray, found: tuple[Detection, ...]
    ) -> Output:
        """The Detections message of ``frame`` (decoded as ``image``), after the camera's
        class filter, with what ``annotate`` reads from the pixels."""
        kept = self.class_filter(frame.camera_id, found)
        result = FrameDetections(
            frame=codec.frame_ref_of(frame),
            detections=self.annotate(image, kept),
            model=self.detector.name,
        )
        return Output(DETECTIONS, frame.camera_id, codec.encode(codec.detections_to_proto(result)))

    def carried_output(self, frame: frames_pb2.Frame) -> Output:
        """The Detections message of a frame the model does not look at (detection interval):
        no detections, ``carried`` so the tracker predicts over it instead of missing."""
        result = FrameDetections(
            frame=codec.frame_ref_of(frame), model=self.detector.name, carried=True
        )
        return Output(DETECTIONS, frame.camera_id, codec.encode(codec.detections_to_proto(result)))

    def handle(self, frame: frames_pb2.Frame, message: Message) -> Sequence[Output]:
        image = self.decode_image(frame.jpeg)
        return [self.output_for(frame, image, self.detector.detect(image))]
