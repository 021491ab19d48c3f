"""Clips and stills end to end: the snapshot stage with the real face detector cuts a clip of a
real photo's frames around an alert and takes a still of the camera, both into a real SQLite
archive and blob folder; the Archive API on loopback serves them, journals every call, answered
or refused, and serves nothing once retention has removed the clip.

The photo is COCO val2017 000000465822 (../shared/data/coco-street), people in a meeting room,
checked by eye: a woman in front (dark hair, striped top) whose face the res10 detector finds at
about (134, 141, 38, 60), a blonde woman standing behind her, in profile, whose face it misses
(the head of her person box is blurred instead), and a man at the left edge. Each is given a
person track, as the tracking stage would; the alert is on the woman in front.

The face detector is slow on this machine's CPU (seconds a frame over its tiles), so the stage
runs once for the module and each test gets its own copy of what it wrote.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest

from tests.integration.storage.archive_server import archive_stub, callers, code_of
from vigie.v1 import frames_pb2, services_pb2, services_pb2_grpc
from vigie_core.types import (
    Alert,
    AlertStatus,
    Box,
    EventKind,
    FrameRef,
    FrameTracks,
    Severity,
    Track,
    TrackState,
)
from vigie_runtime import codec
from vigie_runtime.bus import Message
from vigie_runtime.faces import FaceFinder
from vigie_runtime.topics import ALERTS, FRAMES, TRACKS
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.blobs import FileBlobStore
from vigie_storage.clips import ClipSettings, StillSettings, still_key
from vigie_storage.grpc_api import ArchiveServicer
from vigie_storage.retention import RetentionJob
from vigie_storage.settings import RetentionSettings
from vigie_storage.snapshots import SnapshotHandler, SnapshotSettings

pytestmark = pytest.mark.integration

PHOTO = Path(__file__).parents[3] / ".." / "shared" / "data" / "coco-street" / "000000465822.jpg"
# Regions as (rows, columns).
FRONT_FACE = (slice(141, 201), slice(134, 172))  # found by the detector and in a person's head
BLONDE_FACE = (slice(62, 108), slice(100, 140))  # missed by the detector: in a person's head
CEILING = (slice(0, 40), slice(150, 350))  # no face, no box, no caption: left as it was
PEOPLE = {
    "cam-1/7": Box(55 / 500, 112 / 375, 230 / 500, 1.0),  # the woman in front
    "cam-1/8": Box(65 / 500, 45 / 375, 200 / 500, 1.0),  # the blonde woman standing
    "cam-1/9": Box(0.0, 170 / 375, 60 / 500, 300 / 375),  # the man at the left edge
}
T0 = 1_790_000_000.0
NOW = T0 + 100.0
DAY = 86_400.0

OPERATOR = [("authorization", "Bearer ana-token")]
AUDITOR = [("authorization", "Bearer dpo-token")]
PURPOSE = "incident 2026-114: who filmed the meeting"


def at(n: int) -> float:
    return T0 + n / 10  # 10 frames a second


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    if not PHOTO.is_file():
        pytest.skip(f"the shared test data is not here ({PHOTO})")
    image = cv2.imread(str(PHOTO))
    assert image is not None and image.shape == (375, 500, 3)
    return image


def frame_msg(n: int, data: bytes) -> Message:
    frame = frames_pb2.Frame(
        camera_id="cam-1", sequence=n, captured_at=codec.time_to_proto(at(n)), width=500,
        height=375, jpeg=data,
    )  # fmt: skip
    return Message(FRAMES, 0, n, b"cam-1", frame.SerializeToString())


def tracks_msg(n: int) -> Message:
    tracks = FrameTracks(
        FrameRef("cam-1", n, at(n), 500, 375),
        tuple(Track(i, "person", box, 0.9, TrackState.TRACKED) for i, box in PEOPLE.items()),
    )
    return Message(TRACKS, 0, n, b"cam-1", codec.encode(tracks))


def alert_msg(n: int) -> Message:
    alert = Alert(
        "al-1", "cam-1", EventKind.ZONE_INTRUSION, "stage", Severity.HIGH, AlertStatus.RAISED,
        "ev-1", at(n), at(n), 1, "person", ("cam-1/7",), FrameRef("cam-1", n, at(n), 500, 375),
    )  # fmt: skip
    return Message(ALERTS, 0, n, b"cam-1", codec.encode(alert))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, photo: np.ndarray) -> Path:
    """Frames 0-20 of the photo with their tracks, the alert on frame 10, and the frames after
    it arriving after the alert, as they do: the archive file and blob folder it left."""
    root = tmp_path_factory.mktemp("recorded")
    store = SqliteArchive(root / "archive.sqlite")
    handler = SnapshotHandler(
        store,
        FileBlobStore(root / "snapshots"),
        FaceFinder(min_size_px=12, min_confidence=0.3),  # as the storage service makes it
        SnapshotSettings(buffer_s=10.0, wait_s=10.0),
        clock=lambda: NOW,
        clips=ClipSettings(before_s=0.2, after_s=0.2, fps=5.0),
        stills=StillSettings(every_s=60.0),
    )
    ok, encoded = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    data = encoded.tobytes()
    feed(handler, *(m for n in range(11) for m in (frame_msg(n, data), tracks_msg(n))))
    feed(handler, alert_msg(10))
    assert store.snapshot_for("al-1") is not None and store.clip_for("al-1") is None
    feed(handler, *(m for n in range(11, 21) for m in (frame_msg(n, data), tracks_msg(n))))
    assert store.clip_for("al-1") is not None
    store.close()
    return root


@pytest.fixture
def archive(recorded: Path, tmp_path: Path) -> Iterator[tuple[SqliteArchive, FileBlobStore]]:
    shutil.copytree(recorded, tmp_path / "copy")
    store = SqliteArchive(tmp_path / "copy" / "archive.sqlite")
    yield store, FileBlobStore(tmp_path / "copy" / "snapshots")
    store.close()


@pytest.fixture
def clock() -> list[float]:
    return [NOW]


@pytest.fixture
def stub(
    archive: tuple[SqliteArchive, FileBlobStore], clock: list[float]
) -> Iterator[services_pb2_grpc.ArchiveStub]:
    store, blobs = archive
    servicer = ArchiveServicer(store, callers(), blobs, clock=lambda: clock[0])
    with archive_stub(servicer) as stub:
        yield stub


def feed(handler: SnapshotHandler, *messages: Message) -> None:
    for message in messages:
        handler.handle(handler.decode(message), message)


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def sharpness(region: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def assert_redacted(image: np.ndarray, photo: np.ndarray) -> None:
    """Both women's faces blurred (the one the detector finds, the one it misses), the ceiling
    untouched."""
    assert image.shape == photo.shape
    for face in (FRONT_FACE, BLONDE_FACE):
        assert difference(image[face], photo[face]) > 10
        assert sharpness(image[face]) < sharpness(photo[face]) / 4
    assert difference(image[CEILING], photo[CEILING]) < 6


def red_pixels(image: np.ndarray) -> int:
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(((r > 180) & (g < 80) & (b < 80)).sum())


def test_a_clip_is_served_redacted_in_order_and_journaled(
    stub: services_pb2_grpc.ArchiveStub,
    archive: tuple[SqliteArchive, FileBlobStore],
    photo: np.ndarray,
) -> None:
    store, _ = archive

    clip = stub.GetClip(
        services_pb2.GetClipRequest(alert_id="al-1", purpose=PURPOSE), metadata=AUDITOR
    )

    times = [f.captured_at.ToNanoseconds() / 1e9 for f in clip.frames]
    assert times == pytest.approx([at(n) for n in (8, 10, 12)], abs=1e-5)
    assert [f.alert_frame for f in clip.frames] == [False, True, False]
    assert (clip.alert_id, clip.width, clip.height) == ("al-1", 500, 375)
    assert clip.faces_blurred >= len(clip.frames)
    for frame in clip.frames:
        assert_redacted(decoded(frame.jpeg), photo)
    (entry,) = [r.record for r in store.audit_records() if r.record.action == "export.clip"]
    assert (entry.actor, entry.subject, entry.reason) == ("dpo", "al-1", PURPOSE)
    assert entry.details["frames"] == "3" and entry.details["outcome"] == "ok"
    assert entry.details["bytes"] == str(sum(len(f.jpeg) for f in clip.frames))


def test_refused_clip_calls_are_journaled(
    stub: services_pb2_grpc.ArchiveStub,
    archive: tuple[SqliteArchive, FileBlobStore],
    photo: np.ndarray,
) -> None:
    store, _ = archive
    request = services_pb2.GetClipRequest(alert_id="al-1", purpose=PURPOSE)
    assert code_of(stub.GetClip, request, []) is grpc.StatusCode.UNAUTHENTICATED
    unexplained = services_pb2.GetClipRequest(alert_id="al-1")
    assert code_of(stub.GetClip, unexplained, AUDITOR) is grpc.StatusCode.INVALID_ARGUMENT
    unknown = services_pb2.GetClipRequest(alert_id="al-404", purpose=PURPOSE)
    assert code_of(stub.GetClip, unknown, AUDITOR) is grpc.StatusCode.NOT_FOUND
    refusals = [
        (r.record.actor, r.record.subject, r.record.details["outcome"])
        for r in store.audit_records()
        if r.record.action == "export.clip"
    ]
    assert refusals == [
        ("anonymous", "al-1", "unauthenticated"),
        ("dpo", "al-1", "invalid_argument"),
        ("dpo", "al-404", "not_found"),
    ]


def test_retention_removes_the_clip_with_its_snapshot(
    stub: services_pb2_grpc.ArchiveStub,
    archive: tuple[SqliteArchive, FileBlobStore],
    photo: np.ndarray,
) -> None:
    store, blobs = archive
    clip = store.clip_for("al-1")
    assert clip is not None and blobs.get(clip.blob_key)
    later = NOW + 31 * DAY
    RetentionJob(store, blobs, RetentionSettings(snapshots_days=30), lambda: later).run(later)
    assert store.clip_for("al-1") is None and store.snapshot_for("al-1") is None
    with pytest.raises(KeyError):
        blobs.get(clip.blob_key)
    for call, request in (
        (stub.GetClip, services_pb2.GetClipRequest(alert_id="al-1", purpose=PURPOSE)),
        (stub.GetSnapshot, services_pb2.GetSnapshotRequest(alert_id="al-1", purpose=PURPOSE)),
    ):
        assert code_of(call, request, AUDITOR) is grpc.StatusCode.NOT_FOUND


def test_a_camera_still_is_served_redacted_without_boxes_and_journaled(
    stub: services_pb2_grpc.ArchiveStub,
    archive: tuple[SqliteArchive, FileBlobStore],
    photo: np.ndarray,
    clock: list[float],
) -> None:
    store, blobs = archive
    assert blobs.get(still_key("cam-1"))

    still = stub.GetCameraStill(
        services_pb2.GetCameraStillRequest(camera_id="cam-1", purpose=PURPOSE), metadata=OPERATOR
    )
    image = decoded(still.jpeg)
    assert_redacted(image, photo)
    snapshot = store.snapshot_for("al-1")
    assert snapshot is not None
    drawn = decoded(blobs.get(snapshot.blob_key))
    # The snapshot has the alert's box drawn in red; the still has no box at all.
    assert red_pixels(drawn) > red_pixels(photo) + 200
    assert red_pixels(image) < red_pixels(photo) + 20
    assert (still.info.width, still.info.height, still.info.alert_id) == (500, 375, "")
    assert still.info.faces_blurred >= 1
    (entry,) = [r.record for r in store.audit_records() if r.record.action == "view.still"]
    assert (entry.actor, entry.subject, entry.details["outcome"]) == ("ana", "cam-1", "ok")

    no_camera = services_pb2.GetCameraStillRequest(purpose=PURPOSE)
    assert code_of(stub.GetCameraStill, no_camera, OPERATOR) is grpc.StatusCode.INVALID_ARGUMENT
    unknown = services_pb2.GetCameraStillRequest(camera_id="cam-9", purpose=PURPOSE)
    assert code_of(stub.GetCameraStill, unknown, OPERATOR) is grpc.StatusCode.NOT_FOUND
    clock[0] = NOW + 3600  # the camera sent nothing for an hour: its still is not served
    stale = services_pb2.GetCameraStillRequest(camera_id="cam-1", purpose=PURPOSE)
    assert code_of(stub.GetCameraStill, stale, OPERATOR) is grpc.StatusCode.NOT_FOUND
    outcomes = [
        r.record.details["outcome"]
        for r in store.audit_records()
        if r.record.action == "view.still"
    ]
    assert outcomes == ["ok", "invalid_argument", "not_found", "not_found"]
