"""The Archive gRPC API on loopback over a real SQLite archive: who may search, with which
purpose, every filter, stable paging, snapshots, and the journal entry each call leaves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest

from tests.integration.storage.archive_server import archive_stub, callers, code_of
from vigie.v1 import events_pb2, services_pb2, services_pb2_grpc
from vigie_core.journal import verify
from vigie_core.types import (
    Alert,
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
    Severity,
    TrackSummary,
)
from vigie_runtime import codec
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.blobs import FileBlobStore
from vigie_storage.grpc_api import ArchiveServicer
from vigie_storage.ports import Snapshot

pytestmark = pytest.mark.integration

OPERATOR = [("authorization", "Bearer ana-token"), ("x-request-id", "req-7")]
AUDITOR = [("authorization", "Bearer dpo-token")]
PURPOSE = "incident 2026-114: bag left at gate"


def intrusion(camera: str, t: float, track: str, kind: EventKind = EventKind.ZONE_INTRUSION,
              zone: str = "gate") -> Event:  # fmt: skip
    frame = FrameRef(camera, int(t), t, 640, 360)
    return Event(f"ev-{camera}-{t}-{kind}-{track}", kind, frame, zone, "person", (track,))


def alert(n: int, camera: str = "cam-1", kind: EventKind = EventKind.ZONE_INTRUSION) -> Alert:
    t = 100.0 + n
    return Alert(
        f"al-{n}", camera, kind, "gate", Severity.HIGH, AlertStatus.RAISED, f"ev-{n}", t, t + 5,
        1, "car", (f"{camera}/car-{n}",), FrameRef(camera, n, t, 640, 360), "car in gate",
    )  # fmt: skip


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[tuple[SqliteArchive, FileBlobStore]]:
    store = SqliteArchive(tmp_path / "archive.sqlite")
    yield store, FileBlobStore(tmp_path / "snapshots")
    store.close()


@pytest.fixture
def stub(
    archive: tuple[SqliteArchive, FileBlobStore],
) -> Iterator[services_pb2_grpc.ArchiveStub]:
    store, blobs = archive
    servicer = ArchiveServicer(store, callers(), blobs, clock=lambda: 5000.0)
    with archive_stub(servicer) as stub:
        yield stub


def test_every_search_needs_a_known_caller_and_a_purpose(
    stub: services_pb2_grpc.ArchiveStub,
) -> None:
    request = services_pb2.SearchRequest(purpose=PURPOSE)
    assert code_of(stub.SearchEvents, request, []) is grpc.StatusCode.UNAUTHENTICATED
    assert code_of(stub.SearchEvents, request, [("authorization", "Bearer x")]) is (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert code_of(stub.SearchAlerts, services_pb2.SearchRequest()) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert code_of(stub.SearchAlerts, services_pb2.SearchRequest(purpose="   ")) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )


def test_a_search_is_journaled_with_who_asked_why_and_what(
    stub: services_pb2_grpc.ArchiveStub, archive: tuple[SqliteArchive, FileBlobStore]
) -> None:
    store, _ = archive
    store.save_many([intrusion("cam-1", 10.0, "cam-1/a")])
    found = stub.SearchEvents(
        services_pb2.SearchRequest(camera_id="cam-1", zone="gate", purpose=PURPOSE),
        metadata=OPERATOR,
    )
    assert len(found.events) == 1
    (entry,) = store.audit_records()
    record = entry.record
    assert (record.actor, record.role, record.action) == ("ana", "operator", "search.events")
    assert (record.reason, record.request_id) == (PURPOSE, "req-7")
    assert record.details["cameras"] == '["cam-1"]' and record.details["results"] == "1"
    assert verify(store.audit_records()).ok


def test_filters_by_cameras_zones_kinds_class_and_time(
    stub: services_pb2_grpc.ArchiveStub, archive: tuple[SqliteArchive, FileBlobStore]
) -> None:
    store, _ = archive
    store.save_many(
        [
            intrusion("cam-1", 10.0, "cam-1/a"),
            intrusion("cam-2", 20.0, "cam-2/a", EventKind.LOITERING, zone="hall"),
            intrusion("cam-3", 30.0, "cam-3/a", EventKind.FIRE, zone=""),
            intrusion("cam-1", 40.0, "cam-1/b", EventKind.LOITERING, zone="hall"),
        ]
    )

    def found(**fields: object) -> list[str]:
        request = services_pb2.SearchRequest(purpose=PURPOSE, **fields)  # type: ignore[arg-type]
        reply = stub.SearchEvents(request, metadata=OPERATOR)
        return [f"{e.frame.camera_id}@{e.frame.captured_at.seconds}" for e in reply.events]

    assert found(cameras=["cam-1", "cam-3"]) == ["cam-1@10", "cam-3@30", "cam-1@40"]
    assert found(zones=["hall"]) == ["cam-2@20", "cam-1@40"]
    assert found(kinds=[events_pb2.EVENT_KIND_LOITERING], camera_id="cam-1") == ["cam-1@40"]
    assert found(since=codec.time_to_proto(15.0), until=codec.time_to_proto(40.0)) == [
        "cam-2@20",
        "cam-3@30",
    ]
    assert found(class_name="car") == []
    request = services_pb2.SearchRequest(purpose=PURPOSE, kinds=[events_pb2.EVENT_KIND_FIRE])
    assert code_of(stub.SearchTracks, request) is grpc.StatusCode.INVALID_ARGUMENT


def test_alerts_by_vehicle_colour_and_type(
    stub: services_pb2_grpc.ArchiveStub, archive: tuple[SqliteArchive, FileBlobStore]
) -> None:
    store, _ = archive
    store.save_many([alert(1), alert(2), replace(alert(3), class_name="truck")])
    store.save_many(
        [
            TrackSummary("cam-1/car-1", "cam-1", "car", 101.0, 106.0, 9, colour="red"),
            TrackSummary("cam-1/car-2", "cam-1", "car", 102.0, 107.0, 9, colour="white"),
            TrackSummary("cam-1/car-3", "cam-1", "truck", 103.0, 108.0, 9, colour="red"),
        ]
    )
    reply = stub.SearchAlerts(
        services_pb2.SearchRequest(colour="red", class_name="car", purpose=PURPOSE),
        metadata=OPERATOR,
    )
    assert [a.alert_id for a in reply.alerts] == ["al-1"]


def test_pages_are_stable_and_cover_every_row_once(
    stub: services_pb2_grpc.ArchiveStub, archive: tuple[SqliteArchive, FileBlobStore]
) -> None:
    store, _ = archive
    # Seven events, three of them at the same instant: paging must split ties by id.
    store.save_many(
        [intrusion("cam-1", t, f"cam-1/{i}") for i, t in enumerate([1, 2, 2, 2, 3, 4, 5])]
    )
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        reply = stub.SearchEvents(
            services_pb2.SearchRequest(limit=2, page_token=token, purpose=PURPOSE),
            metadata=OPERATOR,
        )
        seen.extend(f"{e.event_id}" for e in reply.events)
        pages += 1
        token = reply.next_page_token
        if not token:
            break
        store.save_many([intrusion("cam-9", 0.5, "late")])  # arrives meanwhile, before page 1
    assert len(seen) == len(set(seen)) == 7 and pages == 4
    bad = services_pb2.SearchRequest(page_token="not-a-token", purpose=PURPOSE)
    assert code_of(stub.SearchEvents, bad) is grpc.StatusCode.INVALID_ARGUMENT


def test_alerts_come_with_their_snapshot_and_taking_it_out_is_journaled(
    stub: services_pb2_grpc.ArchiveStub, archive: tuple[SqliteArchive, FileBlobStore]
) -> None:
    store, blobs = archive
    store.save_many([alert(1), alert(2)])
    ok, jpeg = cv2.imencode(".jpg", np.full((36, 64, 3), 127, np.uint8))
    assert ok
    blobs.put("cam-1/1970-01-01/al-1.jpg", jpeg.tobytes())
    store.save_snapshot(
        Snapshot("al-1", "cam-1", "cam-1/1970-01-01/al-1.jpg", 1, 101.0, 102.0, 2, 64, 36)
    )
    reply = stub.SearchAlerts(services_pb2.SearchRequest(purpose=PURPOSE), metadata=AUDITOR)
    assert set(reply.snapshots) == {"al-1"}
    assert reply.snapshots["al-1"].faces_blurred == 2
    image = stub.GetSnapshot(
        services_pb2.GetSnapshotRequest(alert_id="al-1", purpose=PURPOSE), metadata=AUDITOR
    )
    assert image.jpeg == jpeg.tobytes() and image.info.width == 64
    missing = services_pb2.GetSnapshotRequest(alert_id="al-2", purpose=PURPOSE)
    assert code_of(stub.GetSnapshot, missing) is grpc.StatusCode.NOT_FOUND
    actions = [
        (c.record.actor, c.record.action, c.record.details["outcome"])
        for c in store.audit_records()
    ]
    assert actions == [
        ("dpo", "search.alerts", "ok"),
        ("dpo", "export.snapshot", "ok"),
        ("ana", "export.snapshot", "not_found"),  # a failed call is journaled too
    ]


def test_two_calls_with_one_request_id_leave_two_records(
    stub: services_pb2_grpc.ArchiveStub, archive: tuple[SqliteArchive, FileBlobStore]
) -> None:
    store, _ = archive
    request = services_pb2.SearchRequest(purpose=PURPOSE)
    for _ in range(40):
        stub.SearchEvents(request, metadata=OPERATOR)  # the same x-request-id, the same instant
    records = [c.record for c in store.audit_records()]
    assert len(records) == 40 and len({r.record_id for r in records}) == 40
    assert {r.request_id for r in records} == {"req-7"}  # kept as a field, not as identity
    assert not any("req-7" in r.record_id for r in records)


def test_a_refused_or_failed_call_leaves_one_record_with_its_outcome(
    stub: services_pb2_grpc.ArchiveStub,
    archive: tuple[SqliteArchive, FileBlobStore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, _ = archive
    asked = services_pb2.SearchRequest(purpose=PURPOSE)
    cases = [
        (stub.SearchEvents, asked, [("authorization", "Bearer x")], "unauthenticated", "anonymous"),
        (stub.SearchAlerts, services_pb2.SearchRequest(), OPERATOR, "invalid_argument", "ana"),
        (
            stub.SearchTracks,
            services_pb2.SearchRequest(purpose=PURPOSE, colour="plaid"),
            AUDITOR,
            "invalid_argument",
            "dpo",
        ),
        (
            stub.GetVerdicts,
            services_pb2.GetVerdictsRequest(purpose=PURPOSE),
            OPERATOR,
            "invalid_argument",
            "ana",
        ),
    ]
    for n, (call, request, metadata, outcome, actor) in enumerate(cases, start=1):
        code_of(call, request, metadata)
        journal = store.audit_records()
        assert len(journal) == n, f"{outcome}: one record per refused call"
        record = journal[-1].record
        assert (record.actor, record.details["outcome"]) == (actor, outcome)
        assert record.details["error"]
    no_purpose = store.audit_records()[1].record
    assert (no_purpose.action, no_purpose.reason) == ("search.alerts", "")

    def broken(query: object) -> list[object]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "search_events", broken)
    assert code_of(stub.SearchEvents, asked) is grpc.StatusCode.INTERNAL
    failed = store.audit_records()[-1].record
    assert (failed.action, failed.actor, failed.reason) == ("search.events", "ana", PURPOSE)
    assert failed.details == {"outcome": "internal", "error": "disk on fire"}
    assert verify(store.audit_records(), checkpoints=store.audit_checkpoints()).ok
