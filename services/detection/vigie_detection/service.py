"""Wiring of the detection service: model, consumer stage and gRPC server."""

from __future__ import annotations

import threading

from vigie.v1 import services_pb2_grpc
from vigie_detection.adapters.yolo_opencv import YoloOpenCvDetector, decode_jpeg
from vigie_detection.grpc_api import DetectorServicer
from vigie_detection.handler import DetectionHandler
from vigie_detection.model_files import locate_yolov4_tiny
from vigie_detection.settings import DetectionSettings
from vigie_runtime.bus import Bus
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import Health
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topics import FRAMES


class DetectionService:
    def __init__(self, settings: DetectionSettings, bus: Bus, health: Health) -> None:
        m = settings.model
        self.detector = YoloOpenCvDetector(
            locate_yolov4_tiny(),
            input_size=m.input_size,
            confidence=m.confidence,
            nms=m.nms,
            classes=frozenset(m.classes),
            threads=m.threads,
        )
        handler = DetectionHandler(self.detector, decode_jpeg)
        stage = Stage(
            name="detection",
            topics=[FRAMES],
            group_id=settings.group_id,
            decode=handler.decode,
            handle=handler.handle,
            counts_frames=True,
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)
        self.grpc = GrpcServer(
            settings.grpc,
            [
                Registration(
                    services_pb2_grpc.add_DetectorServicer_to_server,
                    DetectorServicer(self.detector),
                    "vigie.v1.Detector",
                )
            ],
        )

    def run(self, stop: threading.Event) -> None:
        with self.grpc:
            self.runner.run(stop)


def build(settings: DetectionSettings, bus: Bus, health: Health) -> DetectionService:
    return DetectionService(settings, bus, health)
