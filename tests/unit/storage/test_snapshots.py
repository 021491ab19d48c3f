"""The snapshot stage's logic with a stand-in face finder: which frame an alert gets, when it
waits, when it gives up, and that frames wait for the tracks rather than for the clock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigie.v1 import frames_pb2
from vigie_core.types import (
    Alert,
    AlertStatus,
    Box,
    Event,
    EventKind,
    FrameRef,
    FrameTracks,
    Severity,
    Track,
    TrackState,
)
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topics import ALERTS, EVENTS, FRAMES, TRACKS
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.blobs import FileBlobStore
from vigie_storage.snapshots import (
    SNAPSHOTS,
    SNAPSHOTS_PENDING,
    SnapshotHandler,
    SnapshotSettings,
)

T0 = float(int(time.time()))  # near the wall clock: the runner bounds message times


class NoFaces:
    def find_everywhere(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        return []


def frame_msg(seq: int, t: float, camera: str = "cam") -> Message:
    ok, jpeg = cv2.imencode(".jpg", np.full((90, 160, 3), 200, np.uint8))
    assert ok
    frame = frames_pb2.Frame(
        camera_id=camera, sequence=seq, captured_at=codec.time_to_proto(t), width=160,
        height=90, jpeg=jpeg.tobytes(), replay=True,
    )  # fmt: skip
    return Message(FRAMES, 0, seq, camera.encode(), frame.SerializeToString())


def tracks_msg(seq: int, t: float) -> Message:
    track = Track("cam/1", "person", Box(0.2, 0.1, 0.5, 0.9), 0.9, TrackState.TRACKED)
    tracks = FrameTracks(FrameRef("cam", seq, t, 160, 90), (track,))
    return Message(TRACKS, 0, seq, b"cam", codec.encode(tracks))


def alert_msg(seq: int, t: float, n: int = 1) -> Message:
    alert = Alert(
        f"al-{n}", "cam", EventKind.ZONE_INTRUSION, "gate", Severity.HIGH, AlertStatus.RAISED,
        f"ev-{n}", t, t, 1, "person", ("cam/1",), FrameRef("cam", seq, t, 160, 90),
    )  # fmt: skip
    return Message(ALERTS, 0, n, b"cam", codec.encode(alert))


def event_msg(
    seq: int, t: float, n: int = 1, kind: EventKind = EventKind.ZONE_INTRUSION
) -> Message:
    frame = FrameRef("cam", seq, t, 160, 90)
    event = Event(f"ev-{n}", kind, frame, "gate", "person")
    return Message(EVENTS, 0, n, b"cam", codec.encode(event))


@pytest.fixture
def stage(tmp_path: Path) -> tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]]:
    store = SqliteArchive(tmp_path / "a.sqlite")
    blobs = FileBlobStore(tmp_path / "snapshots")
    now = [T0]
    settings = SnapshotSettings(buffer_s=5.0, wait_s=10.0, max_frames_per_camera=100)
    handler = SnapshotHandler(store, blobs, NoFaces(), settings, clock=lambda: now[0])  # type: ignore[arg-type]
    return handler, store, blobs, now


def feed(handler: SnapshotHandler, *messages: Message) -> None:
    for message in messages:
        handler.handle(handler.decode(message), message)


def test_an_alert_gets_the_frame_it_was_raised_on(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, store, blobs, _ = stage
    feed(handler, frame_msg(1, T0), frame_msg(2, T0 + 0.1), tracks_msg(2, T0 + 0.1))
    feed(handler, alert_msg(2, T0 + 0.1))
    snapshot = store.snapshot_for("al-1")
    assert snapshot is not None and snapshot.frame_sequence == 2
    image = cv2.imdecode(np.frombuffer(blobs.get(snapshot.blob_key), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (90, 160, 3)
    assert (snapshot.width, snapshot.height) == (160, 90)
    feed(handler, alert_msg(2, T0 + 0.1))  # the same alert again (merged, decided): no retake
    assert store.snapshot_for("al-1") == snapshot


def test_an_alert_before_its_frame_waits_for_it(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, store, _, _ = stage
    feed(handler, alert_msg(3, T0))
    assert store.snapshot_for("al-1") is None
    feed(handler, frame_msg(3, T0), tracks_msg(3, T0))
    assert store.snapshot_for("al-1") is not None


def test_tracks_read_before_their_frame_are_kept_for_it(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    """Read after a rewind, a frame's tracks may come first: the frame still gets them, so its
    alert is taken at once with the persons' heads blurred, not half a wait later without."""
    handler, store, _, _ = stage
    feed(handler, tracks_msg(3, T0), frame_msg(3, T0), alert_msg(3, T0))
    assert store.snapshot_for("al-1") is not None
    (camera,) = handler._cameras.values()
    assert camera.by_sequence[3].tracked and len(camera.by_sequence[3].tracks) == 1
    assert not camera.early


def test_early_tracks_are_matched_by_capture_time_too(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, _, _, _ = stage
    feed(handler, tracks_msg(3, T0), frame_msg(3, T0 + 1))  # same sequence, another frame
    (camera,) = handler._cameras.values()
    assert not camera.by_sequence[3].tracked


def test_tracks_whose_frame_never_comes_are_bounded(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, _, _, _ = stage  # max_frames_per_camera=100, buffer_s=5
    feed(handler, frame_msg(0, T0))
    feed(handler, *(tracks_msg(n, T0 + n / 100) for n in range(1, 300)))
    (camera,) = handler._cameras.values()
    assert len(camera.early) == 100
    feed(handler, tracks_msg(1000, T0 + 10))  # tracks 5 s past them: their frames are not coming
    assert list(camera.early) == [1000]


def test_an_alert_whose_frame_was_read_past_is_given_up_after_wait_s(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, store, _, now = stage  # wait_s=10
    feed(handler, frame_msg(6, T0 - 0.1), frame_msg(8, T0 + 0.1))  # frame 7 skipped
    feed(handler, alert_msg(7, T0))
    now[0] = T0 + 9
    handler.on_idle()
    assert "al-1" in handler._pending
    now[0] = T0 + 11
    handler.on_idle()
    feed(handler, frame_msg(7, T0), tracks_msg(7, T0))  # too late: given up
    assert store.snapshot_for("al-1") is None and "al-1" not in handler._pending


def test_an_alert_given_up_is_not_waited_for_again_on_each_of_its_updates(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unacknowledged alert is published again at every escalation (once a minute at
    critical): each must not start another wait, another warning and another count."""
    handler, _, _, now = stage  # wait_s=10
    feed(handler, frame_msg(6, T0 - 0.1), frame_msg(8, T0 + 0.1))  # frame 7 never comes
    missing = SNAPSHOTS.labels("missing")._value.get()
    for minute in range(3):
        feed(handler, alert_msg(7, T0))  # raised, then escalated twice
        now[0] = T0 + 60 * (minute + 1)
        handler.on_idle()
    assert "al-1" not in handler._pending
    assert SNAPSHOTS.labels("missing")._value.get() == missing + 1
    given_up = [r for r in caplog.records if "was not seen in time" in r.getMessage()]
    assert len(given_up) == 1
    # the alert held a place for its frame, which never came
    assert given_up[0].frame_sequence == 7 and given_up[0].pinned == "waiting"  # type: ignore[attr-defined]
    assert handler._pins.state(FrameRef("cam", 7, T0, 160, 90)) == "none", "released once given up"


def test_an_alert_read_before_its_frame_keeps_it_however_far_the_tracks_have_run(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    """After a rewind the alerts are read long before the frames, and the tracks run ahead:
    each frame is pruned as it comes. The alert waiting for one must keep it, even when its
    event comes only after the frame (or not at all)."""
    handler, store, _, now = stage  # buffer_s=5
    feed(handler, *(tracks_msg(n, T0 + n) for n in range(30)))  # tracks 29 s ahead
    feed(handler, alert_msg(7, T0 + 7))
    feed(handler, *(frame_msg(n, T0 + n) for n in range(30)))  # each pruned as it comes...
    feed(handler, event_msg(7, T0 + 7))  # ... before the event that would have pinned it
    now[0] += 6  # half of wait_s: its tracks, pruned long ago, are not waited for
    handler.on_idle()
    snapshot = store.snapshot_for("al-1")
    assert snapshot is not None and snapshot.frame_sequence == 7
    assert handler._pins.state(FrameRef("cam", 7, T0 + 7, 160, 90)) == "none", "released"


def test_an_alert_waits_past_wait_s_while_the_stage_has_not_read_that_far(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    """A stage behind its camera's frames (a backlog, a rewind, redaction on idle cores) has
    missed nothing yet: the alert waits on for its frame, and for its tracks, up to pin_s."""
    handler, store, _, now = stage  # wait_s=10, pin_s=600
    feed(handler, frame_msg(1, T0 - 5))  # the stage has read this camera up to 5 s before
    feed(handler, alert_msg(7, T0))
    now[0] = T0 + 120
    handler.on_idle()
    assert SNAPSHOTS_PENDING._value.get() == 1, "owed, and a drain must be able to see it"
    feed(handler, frame_msg(7, T0))  # its frame at last, its tracks not yet read
    now[0] = T0 + 240
    handler.on_idle()
    assert store.snapshot_for("al-1") is None, "waits for the tracks (head blur) too"
    feed(handler, tracks_msg(7, T0))
    snapshot = store.snapshot_for("al-1")
    assert snapshot is not None and snapshot.frame_sequence == 7
    assert SNAPSHOTS_PENDING._value.get() == 0


def test_an_alert_never_read_up_to_is_given_up_after_pin_s(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, store, _, now = stage
    feed(handler, alert_msg(7, T0))  # its camera never sends a frame
    now[0] = T0 + 599
    handler.on_idle()
    assert "al-1" in handler._pending
    now[0] = T0 + 601
    handler.on_idle()
    assert "al-1" not in handler._pending and store.snapshot_for("al-1") is None


def test_frames_are_kept_until_the_tracks_are_past_them(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, store, _, _ = stage
    # A replay: 60 s of frames arrive long before any tracks.
    feed(handler, *(frame_msg(n, T0 + n) for n in range(60)))
    feed(handler, tracks_msg(1, T0 + 1), alert_msg(1, T0 + 1, n=1))
    assert store.snapshot_for("al-1") is not None
    feed(handler, tracks_msg(36, T0 + 36), tracks_msg(40, T0 + 40))  # frames before 35 s go
    feed(handler, alert_msg(30, T0 + 30, n=2), alert_msg(36, T0 + 36, n=3))
    assert store.snapshot_for("al-3") is not None
    assert store.snapshot_for("al-2") is None  # its frame left the buffer; it waits, then gives up


def test_a_late_alert_finds_the_frame_its_event_pinned(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    """Alerting behind its tracks: the tracks run past the frame's buffer window before the
    alert comes, yet the event that became it pinned its frame."""
    handler, store, _, now = stage  # buffer_s=5
    feed(handler, *(frame_msg(n, T0 + n) for n in range(3)), tracks_msg(2, T0 + 2))
    feed(handler, event_msg(2, T0 + 2))
    feed(handler, frame_msg(40, T0 + 40), tracks_msg(40, T0 + 40))  # frame 2 leaves the buffer
    (camera,) = handler._cameras.values()
    assert 2 not in camera.by_sequence
    now[0] += 120  # two minutes late
    feed(handler, alert_msg(2, T0 + 2))
    snapshot = store.snapshot_for("al-1")
    assert snapshot is not None and snapshot.frame_sequence == 2
    assert len(handler._pins) == 0  # released by the snapshot


def test_an_event_read_before_its_frame_pins_it_when_it_comes(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, store, _, _ = stage
    feed(handler, event_msg(2, T0 + 2), tracks_msg(2, T0 + 2), frame_msg(2, T0 + 2))
    feed(handler, frame_msg(40, T0 + 40), tracks_msg(40, T0 + 40))
    feed(handler, alert_msg(2, T0 + 2))
    assert store.snapshot_for("al-1") is not None


def test_a_pin_whose_event_never_became_an_alert_expires(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, store, _, now = stage
    feed(handler, frame_msg(2, T0 + 2), event_msg(2, T0 + 2))
    feed(handler, frame_msg(40, T0 + 40), tracks_msg(40, T0 + 40))
    now[0] += handler.settings.pin_s
    handler.on_idle()
    assert len(handler._pins) == 0
    feed(handler, alert_msg(2, T0 + 2))
    assert store.snapshot_for("al-1") is None


def test_a_camera_s_own_trouble_pins_nothing(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, _, _, _ = stage
    feed(handler, frame_msg(2, T0 + 2), event_msg(2, T0 + 2, kind=EventKind.CAMERA_STALLED))
    feed(handler, event_msg(2, T0 + 2, n=2, kind=EventKind.CAMERA_OFFLINE))
    assert len(handler._pins) == 0


def test_the_rewind_reads_the_events_again() -> None:
    handler = SnapshotHandler(None, None, NoFaces(), SnapshotSettings(rewind_messages=10))  # type: ignore[arg-type]
    assert handler.rewind() == {FRAMES: 10, TRACKS: 10, EVENTS: 10, ALERTS: 10}


def test_a_frame_read_again_by_a_rewind_is_buffered_once(
    stage: tuple[SnapshotHandler, SqliteArchive, FileBlobStore, list[float]],
) -> None:
    handler, _, _, _ = stage
    feed(handler, *(frame_msg(n, T0 + n / 10) for n in range(20)))
    feed(handler, *(frame_msg(n, T0 + n / 10) for n in range(10, 20)))  # read again
    (camera,) = handler._cameras.values()
    assert len(camera.frames) == len(camera.by_sequence) == 20


def test_after_a_crash_the_rewind_brings_back_the_frame_a_pending_alert_needs(
    tmp_path: Path,
) -> None:
    """The frame's offset was committed before the crash, the alert comes after: the restarted
    stage re-reads its window of frames and tracks and still takes the snapshot."""
    bus = InMemoryBus()
    publisher = bus.publisher("test")
    for n in range(30):
        message = frame_msg(n, T0 + n / 10)
        publisher.publish(Output(FRAMES, "cam", message.value))
        tracks = tracks_msg(n, T0 + n / 10)
        publisher.publish(Output(TRACKS, "cam", tracks.value))
    store = SqliteArchive(tmp_path / "a.sqlite")
    blobs = FileBlobStore(tmp_path / "snapshots")
    settings = SnapshotSettings(buffer_s=5.0, wait_s=10.0, rewind_messages=50)

    def run_until_idle(handler: SnapshotHandler) -> None:
        stage_ = Stage(
            name="snapshots-test",
            topics=[FRAMES, TRACKS, ALERTS],
            group_id="snapshots-test",
            decode=handler.decode,
            handle=handler.handle,
            on_idle=handler.on_idle,
            rewind=handler.rewind(),
        )
        runner = StageRunner(stage_, bus, Health(), "dead", poll_timeout_s=0.01)
        stop = threading.Event()
        thread = threading.Thread(target=runner.run, args=(stop,))
        thread.start()
        deadline = time.monotonic() + 5
        groups = [FRAMES, TRACKS, ALERTS]
        while bus.lag("snapshots-test", groups) and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        thread.join(5)

    run_until_idle(SnapshotHandler(store, blobs, NoFaces(), settings))  # type: ignore[arg-type]
    # ... crash: the buffer is gone; the alert of frame 25 arrives afterwards.
    publisher.publish(Output(ALERTS, "cam", alert_msg(25, T0 + 2.5).value))
    run_until_idle(SnapshotHandler(store, blobs, NoFaces(), settings))  # type: ignore[arg-type]

    snapshot = store.snapshot_for("al-1")
    assert snapshot is not None and snapshot.frame_sequence == 25

    without = SnapshotSettings(buffer_s=5.0, wait_s=0.0, rewind_messages=0)
    publisher.publish(Output(ALERTS, "cam", alert_msg(26, T0 + 2.6, n=2).value))
    run_until_idle(SnapshotHandler(store, blobs, NoFaces(), without))  # type: ignore[arg-type]
    assert store.snapshot_for("al-2") is None  # no rewind, no frame: what the rewind prevents
