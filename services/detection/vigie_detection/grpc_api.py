"""The Detector gRPC API: detection for operator tools and services that do not use Kafka.

Deadlines are honoured before the model runs: a call whose remaining time is shorter than what
the model has recently taken is answered DEADLINE_EXCEEDED at once instead of occupying the
(serialised) network for an answer nobody will read. Requests above the server's message limit
are refused by gRPC itself with RESOURCE_EXHAUSTED before they reach this code; the servicer
checks again so a limit configured here can never be silently exceeded.

An image is decoded only once its header (JPEG or PNG) declares a size within the servicer's
:class:`ImageLimits`: a small PNG can declare 30000x30000 pixels, gigabytes once decoded. A
refused image is INVALID_ARGUMENT with the reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc

from vigie.v1 import detections_pb2, services_pb2, services_pb2_grpc
from vigie_core.types import FrameDetections, FrameRef
from vigie_detection.adapters.detector import Detector
from vigie_detection.handler import Annotator, ClassFilter, as_found, keep_all
from vigie_runtime import codec
from vigie_runtime.images import ImageLimits, InvalidImage, decode_jpeg

ADHOC_CAMERA = "adhoc"


class _Refused(Exception):
    """A request this servicer answers with an error status instead of detections."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class DetectorServicer(services_pb2_grpc.DetectorServicer):
    def __init__(
        self,
        detector: Detector,
        class_filter: ClassFilter = keep_all,
        max_message_bytes: int | None = None,
        annotate: Annotator = as_found,
        image_limits: ImageLimits | None = None,
    ) -> None:
        self.detector = detector
        self.image_limits = image_limits or ImageLimits()
        self.class_filter = class_filter
        self.annotate = annotate
        self.max_message_bytes = max_message_bytes
        # Recent seconds per request (decode + model), smoothed: the deadline check's yardstick.
        self._typical_s = 0.0
        self._lock = threading.Lock()

    def _detect(
        self, request: services_pb2.DetectRequest, context: grpc.ServicerContext
    ) -> detections_pb2.Detections:
        size = request.ByteSize()
        if self.max_message_bytes is not None and size > self.max_message_bytes:
            raise _Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"request of {size} bytes is above the server limit of "
                f"{self.max_message_bytes} bytes (grpc.max_message_mb)",
            )
        if not request.image:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, "image is empty")
        remaining = context.time_remaining()
        with self._lock:
            typical = self._typical_s
        if remaining is not None and remaining <= typical:
            raise _Refused(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"{max(remaining, 0.0):.3f}s left of the deadline; detection takes about "
                f"{typical:.3f}s",
            )
        started = time.perf_counter()
        try:
            image = decode_jpeg(request.image, self.image_limits)
        except InvalidImage as exc:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        height, width = image.shape[:2]
        camera = request.camera_id or ADHOC_CAMERA
        frame = FrameRef(camera, 0, time.time(), width, height)
        found = self.annotate(
            image, self.class_filter(camera, self.detector.detect_batch([image])[0])
        )
        elapsed = time.perf_counter() - started
        with self._lock:
            self._typical_s = (
                elapsed if self._typical_s == 0 else 0.8 * self._typical_s + 0.2 * elapsed
            )
        return codec.detections_to_proto(FrameDetections(frame, found, self.detector.name))

    def Detect(
        self, request: services_pb2.DetectRequest, context: grpc.ServicerContext
    ) -> detections_pb2.Detections:
        try:
            return self._detect(request, context)
        except _Refused as refused:
            context.abort(refused.code, refused.details)
            raise  # unreachable: abort raises

    def StreamDetect(
        self,
        request_iterator: Iterator[services_pb2.DetectRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[detections_pb2.Detections]:
        """One answer per request, in order; the first refused request ends the stream."""
        for index, request in enumerate(request_iterator):
            try:
                yield self._detect(request, context)
            except _Refused as refused:
                context.abort(refused.code, f"request {index}: {refused.details}")
