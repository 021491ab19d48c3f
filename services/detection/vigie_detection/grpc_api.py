"""The Detector gRPC API: detection for operator tools and services that do not use Kafka."""

from __future__ import annotations

import time

import grpc

from vigie.v1 import detections_pb2, services_pb2, services_pb2_grpc
from vigie_core.types import FrameDetections, FrameRef
from vigie_detection.adapters.detector import Detector
from vigie_detection.adapters.images import InvalidImage, decode_jpeg
from vigie_runtime import codec


class DetectorServicer(services_pb2_grpc.DetectorServicer):
    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def Detect(
        self, request: services_pb2.DetectRequest, context: grpc.ServicerContext
    ) -> detections_pb2.Detections:
        if not request.image:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "image is empty")
        try:
            image = decode_jpeg(request.image)
        except InvalidImage as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        height, width = image.shape[:2]
        frame = FrameRef(request.camera_id or "adhoc", 0, time.time(), width, height)
        found = FrameDetections(frame, self.detector.detect(image), self.detector.name)
        return codec.detections_to_proto(found)
