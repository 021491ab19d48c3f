"""The three gRPC servers on loopback, with real servicers: health, reflection, errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import shared_data
from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_alerting.auth import Authenticator, Role, TokenEntry, digest
from vigie_alerting.desk import LocalDesk, Outbox, WatchHub
from vigie_alerting.engine import AlertEngine
from vigie_alerting.grpc_api import AlertDeskServicer
from vigie_alerting.policy_file import LoadedPolicy, PolicyFile
from vigie_core.ids import stable_id
from vigie_core.types import (
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
    TrackSummary,
)
from vigie_detection.adapters.yolo_opencv import YoloOpenCvDetector
from vigie_detection.grpc_api import DetectorServicer
from vigie_detection.model_files import locate_yolov4_tiny
from vigie_runtime import codec
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings
from vigie_runtime.topics import ALERTS, AUDIT, VERDICTS
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.grpc_api import ArchiveServicer

pytestmark = pytest.mark.integration

LOOPBACK = GrpcSettings(host="127.0.0.1", port=0, grace_s=1)


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
    hub = WatchHub()
    engine = AlertEngine(loaded, {}, listeners=[hub.publish])
    (raised, *_) = engine.on_event(_intrusion("cam-1", 1000.0, "cam-1/a-0"), 1000.0)
    alert = codec.decode_alert(raised.value)
    desk = LocalDesk(
        engine, threading.Lock(), bus.publisher("desk"), Outbox(), hub, clock=lambda: 2000.0
    )
    tokens = [
        TokenEntry(sha256=digest("ana-token"), operator="ana", role=Role.OPERATOR),
        TokenEntry(sha256=digest("dpo-token"), operator="dpo", role=Role.AUDITOR),
    ]
    channel = serve(  # type: ignore[operator]
        Registration(
            services_pb2_grpc.add_AlertDeskServicer_to_server,
            AlertDeskServicer(desk, Authenticator(tokens)),
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
    journal = [codec.decode_audit(m.value) for m in bus.messages(AUDIT)]
    assert [(r.action, r.actor, r.request_id) for r in journal] == [
        ("verdict.acknowledge", "ana", "req-42"),
        ("verdict.confirm", "ana", "req-42"),
    ]
    assert not stub.ListAlerts(services_pb2.ListAlertsRequest(), metadata=ana).alerts
    closed = stub.ListAlerts(services_pb2.ListAlertsRequest(include_closed=True), metadata=dpo)
    assert len(closed.alerts) == 1


def test_archive_searches_by_camera_and_time(serve: object, tmp_path: Path) -> None:
    store = SqliteArchive(tmp_path / "archive.sqlite")
    events = [_intrusion(cam, t, f"{cam}/x-0") for cam in ("cam-1", "cam-2") for t in (10.0, 20.0)]
    store.save_many([*events, TrackSummary("cam-1/x-0", "cam-1", "person", 9.0, 21.0, 30)])
    channel = serve(  # type: ignore[operator]
        Registration(
            services_pb2_grpc.add_ArchiveServicer_to_server,
            ArchiveServicer(store),
            "vigie.v1.Archive",
        )
    )
    assert_healthy(channel, "vigie.v1.Archive")
    stub = services_pb2_grpc.ArchiveStub(channel)
    since, until = codec.time_to_proto(15.0), codec.time_to_proto(25.0)
    found = stub.SearchEvents(
        services_pb2.SearchRequest(camera_id="cam-1", since=since, until=until)
    )
    assert [codec.event_from_proto(e) for e in found.events] == [events[1]]
    everything = stub.SearchEvents(services_pb2.SearchRequest())
    assert len(everything.events) == 4
    tracks = stub.SearchTracks(services_pb2.SearchRequest(camera_id="cam-1", since=since))
    assert [t.track_id for t in tracks.tracks] == ["cam-1/x-0"]
    with pytest.raises(grpc.RpcError) as error:
        stub.SearchEvents(services_pb2.SearchRequest(since=until, until=since))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    store.close()


def test_archive_searches_tracks_by_colour_and_time_in_zone(serve: object, tmp_path: Path) -> None:
    store = SqliteArchive(tmp_path / "archive.sqlite")

    def vehicle(n: int, colour: str, seconds: float) -> TrackSummary:
        return TrackSummary(
            f"cam-1/v-{n}", "cam-1", "car", 10.0 + n, 90.0, 40, colour=colour,
            mean_speed=0.0625, max_speed=0.25, seconds_in_zone={"bay": seconds},
        )  # fmt: skip

    stored = [vehicle(1, "red", 45.0), vehicle(2, "white", 50.0), vehicle(3, "red", 5.0)]
    store.save_many(stored)
    channel = serve(  # type: ignore[operator]
        Registration(
            services_pb2_grpc.add_ArchiveServicer_to_server,
            ArchiveServicer(store),
            "vigie.v1.Archive",
        )
    )
    stub = services_pb2_grpc.ArchiveStub(channel)

    def track_ids(**fields: object) -> list[str]:
        found = stub.SearchTracks(services_pb2.SearchRequest(**fields))  # type: ignore[arg-type]
        return [t.track_id for t in found.tracks]

    assert track_ids(colour="red") == ["cam-1/v-1", "cam-1/v-3"]
    assert track_ids(colour=" Red ") == ["cam-1/v-1", "cam-1/v-3"]  # as an operator types it
    assert track_ids(zone="bay", min_seconds_in_zone=30.0) == ["cam-1/v-1", "cam-1/v-2"]
    assert track_ids(zone="bay", min_seconds_in_zone=30.0, colour="red") == ["cam-1/v-1"]
    (red,) = stub.SearchTracks(
        services_pb2.SearchRequest(colour="red", zone="bay", min_seconds_in_zone=30.0)
    ).tracks
    assert codec.track_summary_from_proto(red) == stored[0]  # values exact in float32

    refused = [
        (stub.SearchTracks, {"colour": "redd"}, "unknown colour 'redd'"),
        (stub.SearchTracks, {"min_seconds_in_zone": 30.0}, "needs a zone"),
        (stub.SearchTracks, {"zone": "bay", "min_seconds_in_zone": -1.0}, "must be a number"),
        (stub.SearchEvents, {"colour": "red"}, "only apply to SearchTracks"),
        (stub.SearchAlerts, {"zone": "bay", "min_seconds_in_zone": 5.0}, "only apply"),
    ]
    for call, fields, message in refused:
        with pytest.raises(grpc.RpcError) as error:
            call(services_pb2.SearchRequest(**fields))  # type: ignore[arg-type]
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in (error.value.details() or "")
    store.close()
