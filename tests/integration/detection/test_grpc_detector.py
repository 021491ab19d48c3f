"""The Detector gRPC API on loopback: both RPCs, deadlines, size limits and bad images."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import cv2
import grpc
import numpy as np
import pytest

from tests.conftest import shared_data
from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_core.types import Box, Detection
from vigie_detection.adapters.yolo_opencv import YoloOpenCvDetector
from vigie_detection.grpc_api import DetectorServicer
from vigie_detection.model_files import locate_yolov4_tiny
from vigie_runtime import codec
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.settings import GrpcSettings

pytestmark = pytest.mark.integration

PERSON = Detection(Box(0.125, 0.25, 0.375, 0.875), "person", 0.875)


class SlowDetector:
    """Takes ``delay_s`` per call and counts calls: shows whether the model ran at all."""

    name = "slow"

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls = 0
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> tuple[Detection, ...]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[tuple[Detection, ...]]:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay_s)
        return [(PERSON,) for _ in images]


def jpeg_of(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


SMALL = jpeg_of(np.full((48, 64, 3), 128, dtype=np.uint8))


def serve(detector: object, max_message_mb: int = 8) -> tuple[GrpcServer, grpc.Channel]:
    settings = GrpcSettings(
        host="127.0.0.1", port=0, grace_s=1, max_message_mb=max_message_mb, plaintext=True
    )
    servicer = DetectorServicer(detector, max_message_bytes=max_message_mb * 1024 * 1024)  # type: ignore[arg-type]
    registration = Registration(
        services_pb2_grpc.add_DetectorServicer_to_server, servicer, "vigie.v1.Detector"
    )
    server = GrpcServer(settings, [registration]).start()
    return server, grpc.insecure_channel(f"127.0.0.1:{server.port}")


@pytest.fixture()
def slow() -> Iterator[tuple[SlowDetector, services_pb2_grpc.DetectorStub]]:
    detector = SlowDetector(0.4)
    server, channel = serve(detector, max_message_mb=1)
    yield detector, services_pb2_grpc.DetectorStub(channel)
    channel.close()
    server.stop()


def test_stream_detect_answers_each_request_in_order() -> None:
    detector = YoloOpenCvDetector(locate_yolov4_tiny(), classes=frozenset({"person"}))
    server, channel = serve(detector)
    try:
        stub = services_pb2_grpc.DetectorStub(channel)
        street = jpeg_of(cv2.imread(str(shared_data("coco-street/000000005001.jpg"))))
        requests = [
            services_pb2.DetectRequest(camera_id=f"cam-{i}", image=image)
            for i, image in enumerate([street, SMALL, street])
        ]
        replies = list(stub.StreamDetect(iter(requests), timeout=60))
        found = [codec.detections_from_proto(r) for r in replies]
        assert [f.frame.camera_id for f in found] == ["cam-0", "cam-1", "cam-2"]
        assert found[0].detections and found[0].detections == found[2].detections
        assert {d.class_name for d in found[0].detections} == {"person"}
    finally:
        channel.close()
        server.stop()


def test_stream_detect_ends_with_invalid_argument_at_the_bad_image(slow) -> None:  # type: ignore[no-untyped-def]
    _, stub = slow
    requests = [
        services_pb2.DetectRequest(camera_id="a", image=SMALL),
        services_pb2.DetectRequest(camera_id="b", image=b"not an image"),
        services_pb2.DetectRequest(camera_id="c", image=SMALL),
    ]
    received = []
    with pytest.raises(grpc.RpcError) as error:
        for reply in stub.StreamDetect(iter(requests), timeout=30):
            received.append(reply.frame.camera_id)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request 1" in error.value.details()
    assert received == ["a"]  # what was answered before the bad image stands
    with pytest.raises(grpc.RpcError) as error:
        list(stub.StreamDetect(iter([services_pb2.DetectRequest(image=b"")]), timeout=30))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_detect_refuses_invalid_images(slow) -> None:  # type: ignore[no-untyped-def]
    detector, stub = slow
    for bad in (b"", b"not an image at all"):
        with pytest.raises(grpc.RpcError) as error:
            stub.Detect(services_pb2.DetectRequest(image=bad), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detector.calls == 0


def test_deadline_too_short_for_the_model_is_refused_before_running_it(slow) -> None:  # type: ignore[no-untyped-def]
    detector, stub = slow
    stub.Detect(services_pb2.DetectRequest(image=SMALL), timeout=10)  # learns the model's time
    assert detector.calls == 1
    for call in (
        lambda: stub.Detect(services_pb2.DetectRequest(image=SMALL), timeout=0.2),
        lambda: list(
            stub.StreamDetect(iter([services_pb2.DetectRequest(image=SMALL)]), timeout=0.2)
        ),
    ):
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(0.5)  # had the server run the model anyway, the count would show it by now
    assert detector.calls == 1
    reply = stub.Detect(services_pb2.DetectRequest(image=SMALL), timeout=10)
    assert reply.detections


def test_oversized_request_is_resource_exhausted_and_the_server_keeps_serving(slow) -> None:  # type: ignore[no-untyped-def]
    detector, stub = slow
    huge = services_pb2.DetectRequest(image=b"\xff" * (1024 * 1024 + 10))
    with pytest.raises(grpc.RpcError) as error:
        stub.Detect(huge, timeout=10)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        list(stub.StreamDetect(iter([huge]), timeout=10))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert detector.calls == 0
    assert stub.Detect(services_pb2.DetectRequest(image=SMALL), timeout=10).detections


def test_servicer_enforces_its_own_limit_too() -> None:
    """Should gRPC's limit ever be raised above the service's, the servicer still refuses."""
    detector = SlowDetector(0)
    servicer = DetectorServicer(detector, max_message_bytes=100)  # type: ignore[arg-type]

    class Context:
        def time_remaining(self) -> None:
            return None

        def abort(self, code: grpc.StatusCode, details: str) -> None:
            raise RuntimeError(code, details)

    with pytest.raises(RuntimeError) as error:
        servicer.Detect(services_pb2.DetectRequest(image=b"x" * 200), Context())  # type: ignore[arg-type]
    code, details = error.value.args
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "above the server limit of 100 bytes" in details
    assert detector.calls == 0
