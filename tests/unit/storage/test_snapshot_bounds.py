"""The snapshot buffer's memory bounds under a flood: bytes across cameras, idle cameras,
distinct camera ids, and alerts waiting for their frame."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vigie.v1 import frames_pb2
from vigie_runtime import codec
from vigie_runtime.bus import Message
from vigie_runtime.topics import FRAMES
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.blobs import FileBlobStore
from vigie_storage.snapshots import SnapshotHandler, SnapshotSettings

from .test_snapshots import NoFaces, alert_msg, tracks_msg

T0 = 1_790_000_000.0
JPEG = 10_000  # bytes per fake frame: the buffer never decodes a frame no alert wants


def frame(camera: str, seq: int, t: float, size: int = JPEG) -> Message:
    body = frames_pb2.Frame(
        camera_id=camera, sequence=seq, captured_at=codec.time_to_proto(t), width=160,
        height=90, jpeg=b"\xff" * size,
    )  # fmt: skip
    return Message(FRAMES, 0, seq, camera.encode(), body.SerializeToString())


def make(tmp_path: Path, **settings: float) -> tuple[SnapshotHandler, list[float]]:
    now = [T0]
    handler = SnapshotHandler(
        SqliteArchive(tmp_path / "a.sqlite"),
        FileBlobStore(tmp_path / "snapshots"),
        NoFaces(),  # type: ignore[arg-type]
        SnapshotSettings(**settings),  # type: ignore[arg-type]
        clock=lambda: now[0],
    )
    return handler, now


def feed(handler: SnapshotHandler, *messages: Message) -> None:
    for message in messages:
        handler.handle(handler.decode(message), message)


def sequences(handler: SnapshotHandler, camera: str) -> list[int]:
    held = handler._cameras.get(camera)
    return [f.sequence for f in held.frames] if held else []


def test_the_byte_budget_holds_and_the_biggest_camera_pays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 1 MB: 100 frames of 10 kB across every camera.
    handler, _ = make(tmp_path, max_buffer_mb=1.0, max_frames_per_camera=10_000)
    for seq in range(5):  # ten quiet cameras, 5 frames each: 500 kB
        feed(handler, *(frame(f"quiet-{c}", seq, T0 + seq) for c in range(10)))
    with caplog.at_level(logging.WARNING):
        feed(handler, *(frame("flood", seq, T0 + seq) for seq in range(5_000)))
    assert handler.buffered_bytes() <= 1_000_000
    assert all(sequences(handler, f"quiet-{c}") == list(range(5)) for c in range(10))
    flood = sequences(handler, "flood")
    assert flood == list(range(5_000 - len(flood), 5_000))  # its newest frames, in order
    assert len(flood) == 50
    warnings = [r for r in caplog.records if "memory budget" in r.getMessage()]
    assert len(warnings) == 1  # once per episode, not once per frame


def test_a_camera_within_budget_keeps_its_frames_while_the_biggest_shrinks(
    tmp_path: Path,
) -> None:
    handler, _ = make(tmp_path, max_buffer_mb=0.1, max_frames_per_camera=10_000)
    feed(handler, *(frame("a", seq, T0 + seq) for seq in range(8)))  # 80 kB
    feed(handler, *(frame("b", seq, T0 + seq) for seq in range(4)))  # 120 kB: over budget
    assert handler.buffered_bytes() <= 100_000
    # "a" held the most each time "b" pushed past the budget, so "a" lost its oldest two.
    assert sequences(handler, "a") == list(range(2, 8))
    assert sequences(handler, "b") == list(range(4))


def test_idle_cameras_are_forgotten(tmp_path: Path) -> None:
    handler, now = make(tmp_path, idle_s=60.0)
    feed(handler, frame("gone", 1, T0), frame("live", 1, T0))
    now[0] += 30
    feed(handler, frame("live", 2, T0 + 30))
    now[0] += 31  # "gone" has sent nothing for 61 s, "live" for 31 s
    handler.on_idle()
    assert "gone" not in handler._cameras and sequences(handler, "live") == [1, 2]
    assert handler.buffered_bytes() == 2 * JPEG


def test_a_camera_whose_tracks_still_arrive_is_not_idle(tmp_path: Path) -> None:
    """A fast replay publishes every frame at once while detection and tracking take minutes:
    the camera sends no frame for longer than idle_s, yet its alerts still need its frames."""
    handler, now = make(tmp_path, idle_s=60.0)
    feed(handler, *(frame("cam", seq, T0 + seq) for seq in range(3)))
    for seq in range(3):
        now[0] += 40  # 120 s without a frame, tracks every 40 s
        feed(handler, tracks_msg(seq, T0 + seq))
    handler.on_idle()
    assert sequences(handler, "cam") == [0, 1, 2]
    now[0] += 61  # now nothing at all for longer than idle_s
    handler.on_idle()
    assert sequences(handler, "cam") == []


def test_a_flood_of_camera_ids_is_capped(tmp_path: Path) -> None:
    handler, now = make(tmp_path, max_cameras=50)
    for c in range(1_000):
        now[0] += 0.001
        feed(handler, frame(f"cam-{c}", 1, T0))
    assert len(handler._cameras) == 50
    assert list(handler._cameras) == [f"cam-{c}" for c in range(950, 1_000)]  # the newest
    assert handler.buffered_bytes() == 50 * JPEG


def test_alerts_waiting_for_their_frame_are_capped(tmp_path: Path) -> None:
    handler, _ = make(tmp_path, max_pending=20)
    feed(handler, *(alert_msg(n, T0, n) for n in range(1, 501)))  # none has its frame
    assert len(handler._pending) == 20
    assert list(handler._pending) == [f"al-{n}" for n in range(481, 501)]  # oldest given up
