"""Wiring of the detection service: model, consumer stage and gRPC server."""

from __future__ import annotations

from functools import partial

from vigie.v1 import services_pb2_grpc
from vigie_detection.adapters import DetectorConfig, build_detector, decode_jpeg
from vigie_detection.batching import BatchingDetection, FillingBus
from vigie_detection.grpc_api import DetectorServicer
from vigie_detection.handler import DetectionHandler
from vigie_detection.models.class_filter import CameraClassFilter
from vigie_detection.models.errors import ModelError
from vigie_detection.settings import DetectionSettings
from vigie_detection.vehicle_colour import VehicleColours
from vigie_runtime.bus import Bus
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import Health
from vigie_runtime.service import StageService
from vigie_runtime.topology import DETECTION
from vigie_runtime.yamlconf import ConfigError


class DetectionService(StageService):
    def __init__(self, settings: DetectionSettings, bus: Bus, health: Health) -> None:
        super().__init__(DETECTION, settings, bus, health)
        m = settings.model
        wanted = set(m.classes).union(*m.camera_classes.values())
        try:
            self.detector = build_detector(
                DetectorConfig(
                    model=m.name,
                    backend=m.backend,
                    input_size=m.input_size,
                    confidence=m.confidence,
                    nms=m.nms,
                    classes=frozenset(wanted),
                    threads=m.threads,
                    device=m.device,
                    cache_dir=m.cache_dir,
                    manifests=(m.manifest,) if m.manifest else (),
                    precision=m.precision,
                )
            )
        except ModelError as exc:
            # A missing or corrupt model is a configuration problem: one clear line, exit 2.
            raise ConfigError(f"model: {exc}") from None
        class_filter = CameraClassFilter(self.detector.class_names, m.classes, m.camera_classes)
        try:
            colours = VehicleColours(settings.vehicle_colour.classes, self.detector.class_names)
        except ValueError as exc:
            raise ConfigError(f"vehicle_colour.classes: {exc}") from None
        limits = settings.images.limits()
        handler = DetectionHandler(
            self.detector,
            partial(decode_jpeg, limits=limits),
            class_filter.apply,
            colours.annotate,
            image_limits=limits,
        )
        b = settings.batching
        self.batching = BatchingDetection(
            handler,
            max_batch=b.max_batch,
            freshness=settings.freshness,
            dead_letter_topic=settings.dead_letter_topic,
            interval=settings.interval,
        )
        self.add_stage(
            "detection",
            self.batching.decode,
            self.batching.collect,
            before_commit=self.batching.flush,
            counts_frames=True,
            bus=FillingBus(bus, b.max_batch, b.max_wait_ms / 1000),
            # A poll must be able to hold a whole model batch, or batches would never fill.
            max_batch=max(settings.max_batch, b.max_batch),
        )
        self.grpc = GrpcServer(
            settings.grpc,
            [
                Registration(
                    services_pb2_grpc.add_DetectorServicer_to_server,
                    DetectorServicer(
                        self.detector,
                        class_filter.apply,
                        max_message_bytes=settings.grpc.max_message_mb * 1024 * 1024,
                        annotate=colours.annotate,
                        image_limits=limits,
                    ),
                    "vigie.v1.Detector",
                )
            ],
            health=health,
        )
        self.serve(self.grpc)


def build(settings: DetectionSettings, bus: Bus, health: Health) -> DetectionService:
    return DetectionService(settings, bus, health)
