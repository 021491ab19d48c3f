"""The three gRPC servers on loopback, with real servicers: health, reflection, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import cv2
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import shared_data
from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_alerting.books import AlertBooks
from vigie_alerting.desk import ReplicaDesk
from vigie_alerting.engine import AlertEngine
from vigie_alerting.grpc_api import AlertDeskServicer
from vigie_alerting.handler import AlertingHandler
from vigie_alerting.policy_file import LoadedPolicy, PolicyFile
from vigie_alerting.routing import DeskRouter, OneReplica
from vigie_alerting.service import InProcessCalls
from vigie_alerting.watch import WatchHub, watch_group, watch_stage
from vigie_core.ids import stable_id
from vigie_core.types import (
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
)
from vigie_detection.adapters.yolo_opencv import YoloOpenCvDetector
from vigie_detection.grpc_api import DetectorServicer
from vigie_detection.model_files import locate_yolov4_tiny
from vigie_runtime import codec
from vigie_runtime.auth import Authenticator, Role, TokenEntry, digest
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings
from vigie_runtime.stage import StageRunner
from vigie_runtime.topics import ALERTS, AUDIT, DEAD_LETTERS, VERDICTS

pytestmark = pytest.mark.integration

LOOPBACK = GrpcSettings(host="127.0.0.1", port=0, grace_s=1, plaintext=True)


@pytest.fixture()
def serve() -> Iterator[object]:
    servers: list[GrpcServer] = []

    def start(registration: Registration) -> grpc.Channel:
        server = GrpcServer(LOOPBACK, [registration]).start()
        servers.append(server)
        return grpc.insecure_channel(f"127.0.0.1:{server.port}")

    yield start
    for server in servers:
        server.stop()


def reflected_services(channel: grpc.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    reply = next(stub.ServerReflectionInfo(iter([request])))
    return {s.name for s in reply.list_services_response.service}


def assert_healthy(channel: grpc.Channel, name: str) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in (name, ""):
        status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    assert name in reflected_services(channel)


def test_detector_finds_people_and_refuses_bad_images(serve: object) -> None:
    detector = YoloOpenCvDetector(locate_yolov4_tiny(), classes=frozenset({"person"}))
    registration = Registration(
        services_pb2_grpc.add_DetectorServicer_to_server,
        DetectorServicer(detector),
        "vigie.v1.Detector",
    )
    channel = serve(registration)  # type: ignore[operator]
    assert_healthy(channel, "vigie.v1.Detector")
    stub = services_pb2_grpc.DetectorStub(channel)
    image = cv2.imread(str(shared_data("coco-street/000000005001.jpg")))
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    reply = stub.Detect(services_pb2.DetectRequest(camera_id="cam-1", image=jpeg.tobytes()))
    found = codec.detections_from_proto(reply)
    assert found.frame.camera_id == "cam-1"
    assert found.detections and {d.class_name for d in found.detections} == {"person"}
    assert (found.frame.width, found.frame.height) == (image.shape[1], image.shape[0])
    for bad in (b"", b"not an image at all"):
        with pytest.raises(grpc.RpcError) as error:
            stub.Detect(services_pb2.DetectRequest(image=bad), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _intrusion(camera: str, t: float, track: str) -> Event:
    frame = FrameRef(camera, int(t * 10), t, 768, 432)
    return Event(
        stable_id(camera, t, track), EventKind.ZONE_INTRUSION, frame, "table", "person", (track,)
    )


def test_alert_desk_records_verdicts_as_events(serve: object) -> None:
    bus = InMemoryBus()
    loaded = LoadedPolicy(
        file=PolicyFile.model_validate(
            {
                "version": "t-1",
                "cooldown_s": 30,
                "default": {"zone_intrusion": {"severity": "high"}},
            }
        ),
        source="test",
        sha256="0" * 64,
    )
    books = AlertBooks()
    engine = AlertEngine(loaded, books)
    t0 = time.time() - 1000  # recent: the watch feed bounds alert times like every stage
    (raised, *_) = engine.on_event(_intrusion("cam-1", t0, "cam-1/a-0"), t0)
    alert = codec.decode_alert(raised.value)
    handler = AlertingHandler(engine, books, clock=lambda: t0 + 1000)
    desk = ReplicaDesk(handler, InProcessCalls(books, bus.publisher("desk")))
    # The live feed of WatchAlerts: alerts read back from the topic, as every replica does.
    hub = WatchHub()
    feed = StageRunner(
        watch_stage(hub, watch_group("test"), 0.0), bus, Health(), DEAD_LETTERS, poll_timeout_s=0.05
    )
    stop_feed = threading.Event()
    threading.Thread(target=feed.run, args=(stop_feed,), daemon=True).start()
    tokens = [
        TokenEntry(sha256=digest("ana-token"), operator="ana", role=Role.OPERATOR),
        TokenEntry(sha256=digest("dpo-token"), operator="dpo", role=Role.AUDITOR),
    ]
    channel = serve(  # type: ignore[operator]
        Registration(
            services_pb2_grpc.add_AlertDeskServicer_to_server,
            AlertDeskServicer(DeskRouter(desk, OneReplica()), hub, Authenticator(tokens)),
            "vigie.v1.AlertDesk",
        )
    )
    assert_healthy(channel, "vigie.v1.AlertDesk")
    stub = services_pb2_grpc.AlertDeskStub(channel)
    ana = [("authorization", "Bearer ana-token"), ("x-request-id", "req-42")]
    dpo = [("authorization", "Bearer dpo-token")]

    with pytest.raises(grpc.RpcError) as error:
        stub.ListAlerts(services_pb2.ListAlertsRequest())
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    listed = stub.ListAlerts(services_pb2.ListAlertsRequest(), metadata=ana)
    assert [a.alert_id for a in listed.alerts] == [alert.alert_id]
    watch = stub.WatchAlerts(services_pb2.WatchAlertsRequest(), metadata=dpo)
    assert next(watch).alert_id == alert.alert_id  # the open alert first

    with pytest.raises(grpc.RpcError) as error:
        stub.Confirm(services_pb2.VerdictRequest(alert_id=alert.alert_id), metadata=ana)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as error:
        stub.Acknowledge(services_pb2.VerdictRequest(alert_id="nope"), metadata=ana)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as error:
        stub.Acknowledge(services_pb2.VerdictRequest(alert_id=alert.alert_id), metadata=dpo)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED

    acked = stub.Acknowledge(services_pb2.VerdictRequest(alert_id=alert.alert_id), metadata=ana)
    assert codec.alert_from_proto(acked).status == AlertStatus.ACKNOWLEDGED
    assert codec.alert_from_proto(next(watch)).status == AlertStatus.ACKNOWLEDGED  # live
    confirmed = stub.Confirm(
        services_pb2.VerdictRequest(alert_id=alert.alert_id, reason="seen on site"), metadata=ana
    )
    assert codec.alert_from_proto(confirmed).status == AlertStatus.CONFIRMED
    with pytest.raises(grpc.RpcError) as error:
        stub.Dismiss(
            services_pb2.VerdictRequest(alert_id=alert.alert_id, reason="late"), metadata=ana
        )
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    watch.cancel()

    verdicts = [codec.decode_verdict(m.value) for m in bus.messages(VERDICTS)]
    assert [(v.action.value, v.operator, v.role, v.reason) for v in verdicts] == [
        ("acknowledge", "ana", "operator", ""),
        ("confirm", "ana", "operator", "seen on site"),
    ]
    states = [codec.decode_alert(m.value).status for m in bus.messages(ALERTS)]
    assert states == [AlertStatus.ACKNOWLEDGED, AlertStatus.CONFIRMED]
    journal = [
        r
        for r in (codec.decode_audit(m.value) for m in bus.messages(AUDIT))
        if r.action.startswith("verdict.")  # refused calls are journaled as desk.*
    ]
    assert [(r.action, r.actor, r.request_id) for r in journal] == [
        ("verdict.acknowledge", "ana", "req-42"),
        ("verdict.confirm", "ana", "req-42"),
    ]
    assert not stub.ListAlerts(services_pb2.ListAlertsRequest(), metadata=ana).alerts
    closed = stub.ListAlerts(services_pb2.ListAlertsRequest(include_closed=True), metadata=dpo)
    assert len(closed.alerts) == 1
    stop_feed.set()
