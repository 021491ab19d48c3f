"""Clips and stills of the snapshot stage, with a stand-in face finder: which frames a clip
keeps, that it waits for the frames after its alert and their tracks, what it keeps when the
camera stops, its bounds, that a rewind does not store it twice, the cadence of the stills, and
the adapters' and retention's side of it."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from tests.contract.recording_session import RecordingSession
from vigie.v1 import frames_pb2
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
from vigie_runtime.topics import ALERTS, FRAMES, TRACKS
from vigie_storage.adapters.cassandra.store import CassandraArchive
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.blobs import FileBlobStore
from vigie_storage.clips import (
    ClipSettings,
    Media,
    MediaFrame,
    StillSettings,
    clip_key,
    pack,
    pick_frames,
    still_key,
    unpack,
    within_bytes,
)
from vigie_storage.ports import ArchiveStore, Clip, DataKind, Snapshot
from vigie_storage.retention import RetentionJob
from vigie_storage.settings import RetentionSettings, StorageSettings
from vigie_storage.snapshots import SnapshotHandler, SnapshotSettings

T0 = 1_790_000_000.0
DAY = 86_400.0
RNG = np.random.default_rng(7)
# Noise, so that a blurred region is measurably flatter than the same region untouched.
NOISE = RNG.integers(0, 256, (90, 160, 3), dtype=np.uint8)
PERSON = Box(0.2, 0.1, 0.5, 0.9)  # its head: rows 9..41, columns 32..80 of a 160x90 frame


class NoFaces:
    def find_everywhere(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        return []


class CountingBlobs(FileBlobStore):
    """The filesystem blob store, counting the writes of each key."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts: dict[str, int] = {}

    def put(self, key: str, data: bytes) -> None:
        self.puts[key] = self.puts.get(key, 0) + 1
        super().put(key, data)


def jpeg(image: np.ndarray = NOISE) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return encoded.tobytes()


NOISE_JPEG = jpeg()


def at(n: int) -> float:
    """Capture time of frame ``n``: 10 frames a second."""
    return T0 + n / 10


def frame_msg(n: int, camera: str = "cam", data: bytes = NOISE_JPEG) -> Message:
    frame = frames_pb2.Frame(
        camera_id=camera, sequence=n, captured_at=codec.time_to_proto(at(n)), width=160,
        height=90, jpeg=data,
    )  # fmt: skip
    return Message(FRAMES, 0, n, camera.encode(), frame.SerializeToString())


def tracks_msg(n: int, camera: str = "cam") -> Message:
    track = Track(f"{camera}/1", "person", PERSON, 0.9, TrackState.TRACKED)
    tracks = FrameTracks(FrameRef(camera, n, at(n), 160, 90), (track,))
    return Message(TRACKS, 0, n, camera.encode(), codec.encode(tracks))


def alert_msg(n: int, alert_id: str = "al-1", camera: str = "cam") -> Message:
    alert = Alert(
        alert_id, camera, EventKind.ZONE_INTRUSION, "gate", Severity.HIGH, AlertStatus.RAISED,
        f"ev-{alert_id}", at(n), at(n), 1, "person", (f"{camera}/1",),
        FrameRef(camera, n, at(n), 160, 90),
    )  # fmt: skip
    return Message(ALERTS, 0, n, camera.encode(), codec.encode(alert))


class Stage:
    """A snapshot stage with clips and stills, on a real SQLite archive and blob folder."""

    def __init__(
        self,
        root: Path,
        store: SqliteArchive | None = None,
        clips: ClipSettings | None = None,
        stills: StillSettings | None = None,
        **snapshot: float,
    ) -> None:
        self.now = [T0 + 100.0]
        self.store = store or SqliteArchive(root / "a.sqlite")
        self.blobs = CountingBlobs(root / "blobs")
        defaults = {"buffer_s": 10.0, "wait_s": 10.0, "max_frames_per_camera": 500}
        self.handler = SnapshotHandler(
            self.store,
            self.blobs,
            NoFaces(),  # type: ignore[arg-type]
            SnapshotSettings(**{**defaults, **snapshot}),  # type: ignore[arg-type]
            clock=lambda: self.now[0],
            clips=clips or ClipSettings(before_s=1.0, after_s=1.0, fps=5.0, wait_s=5.0),
            stills=stills or StillSettings(enabled=False),
        )

    def feed(self, *messages: Message) -> None:
        for message in messages:
            self.handler.handle(self.handler.decode(message), message)

    def clip(self, alert_id: str = "al-1") -> Media | None:
        clip = self.store.clip_for(alert_id)
        return unpack(self.blobs.get(clip.blob_key)) if clip is not None else None


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def red_pixels(image: np.ndarray) -> int:
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(((r > 180) & (g < 80) & (b < 80)).sum())


# -- which frames ---------------------------------------------------------------------------------


def test_the_window_is_thinned_outwards_from_the_alert_frame() -> None:
    times = [n / 10 for n in range(50)]  # 10 fps, 5 s
    picked = pick_frames(times, 2.0, 1.0, 1.0, fps=5.0, max_frames=60)
    assert [round(times[i], 1) for i in picked] == [
        1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0,
    ]  # fmt: skip
    # Without thinning, every frame of the window; nothing outside it.
    every = pick_frames(times, 2.0, 0.5, 0.3, fps=60.0, max_frames=60)
    assert [round(times[i], 1) for i in every] == [1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2, 2.3]


def test_over_max_frames_the_frames_nearest_the_alert_stay_and_order_is_by_time() -> None:
    times = [n / 10 for n in range(50)]
    shuffled = times[::-1]  # a rewind may buffer frames out of order
    picked = pick_frames(shuffled, 2.0, 2.0, 2.0, fps=60.0, max_frames=5)
    assert [round(shuffled[i], 1) for i in picked] == [1.8, 1.9, 2.0, 2.1, 2.2]


def test_a_window_without_the_alert_frame_still_keeps_the_rest() -> None:
    times = [1.0, 1.5, 2.5, 3.0]
    assert pick_frames(times, 2.0, 1.0, 1.0, fps=60.0, max_frames=60) == [0, 1, 2, 3]
    assert pick_frames([], 2.0, 1.0, 1.0, fps=8.0, max_frames=60) == []


def test_a_clip_too_big_for_one_answer_loses_the_frames_farthest_from_the_alert() -> None:
    frames = [MediaFrame(n, n / 10, b"x" * 100) for n in range(10, 31)]
    kept = within_bytes(frames, 2.0, 1_000)
    assert [f.sequence for f in kept] == list(range(16, 26))


def test_media_blobs_round_trip_and_anything_else_is_refused() -> None:
    media = Media(
        "clip", "cam", "al-1", T0, 160, 90,
        (MediaFrame(1, T0 - 0.1, b"one", False, 2), MediaFrame(2, T0, b"two!", True, 1)),
    )  # fmt: skip
    blob = pack(media)
    assert unpack(blob) == media and media.faces_blurred == 3 and media.jpeg_bytes == 7
    with pytest.raises(ValueError, match="magic"):
        unpack(b"\xff\xd8 a bare jpeg")
    with pytest.raises(ValueError):
        unpack(blob[:-1])  # truncated: refused whole
    with pytest.raises(ValueError):
        unpack(blob + b"extra")


def test_keys_of_stills_depend_on_the_camera_only_and_never_collide() -> None:
    assert still_key("cam-1") == still_key("cam-1") == "stills/cam-1.still"
    assert still_key("cam/1") != still_key("cam_1")
    assert ".." not in still_key("..").split("/")
    assert clip_key("cam/1", "al-1", T0) == "cam_1/2026-09-21/al-1.clip"


# -- waiting for the frames after the alert -------------------------------------------------------


def test_a_clip_waits_for_the_frames_after_its_alert_and_their_tracks(tmp_path: Path) -> None:
    stage = Stage(tmp_path)
    stage.feed(*(m for n in range(21) for m in (frame_msg(n), tracks_msg(n))))
    stage.feed(alert_msg(20))
    assert stage.store.snapshot_for("al-1") is not None  # the snapshot does not wait
    assert stage.store.clip_for("al-1") is None  # its clip does: 1 s after is still to come
    stage.feed(*(frame_msg(n) for n in range(21, 40)))  # frames run ahead of their tracks
    assert stage.store.clip_for("al-1") is None  # their heads could not be blurred yet
    stage.feed(*(tracks_msg(n) for n in range(21, 31)))
    clip = stage.clip()
    assert clip is not None
    assert [f.sequence for f in clip.frames] == list(range(10, 31, 2))
    assert [f.sequence for f in clip.frames if f.alert_frame] == [20]
    assert [f.captured_at for f in clip.frames] == sorted(f.captured_at for f in clip.frames)
    record = stage.store.clip_for("al-1")
    assert record is not None and record.frames == 11 and (record.width, record.height) == (160, 90)
    for frame in clip.frames:  # every frame redacted like the snapshot, the alert's box drawn
        image = decoded(frame.jpeg)
        assert sharpness(image[12:38, 36:76]) < sharpness(NOISE[12:38, 36:76]) / 10
        assert red_pixels(image) > 100


def test_a_camera_that_stops_ends_its_clip_with_what_came_and_says_how_many(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stage = Stage(tmp_path)
    stage.feed(*(m for n in range(24) for m in (frame_msg(n), tracks_msg(n))))
    stage.feed(alert_msg(20))  # the camera stops 0.3 s after the alert
    stage.now[0] += 4.9
    stage.handler.on_idle()
    assert stage.store.clip_for("al-1") is None
    stage.now[0] += 0.2  # clips.wait_s has passed
    with caplog.at_level(logging.WARNING):
        stage.handler.on_idle()
    clip = stage.clip()
    assert clip is not None and [f.sequence for f in clip.frames] == [10, 12, 14, 16, 18, 20, 22]
    (record,) = [r for r in caplog.records if "clip stored" in r.getMessage()]
    assert (record.why, record.frames, record.to_s) == ("timeout", 7, 0.2)  # type: ignore[attr-defined]


def test_a_clip_with_no_frame_at_all_is_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stage = Stage(tmp_path)
    stage.store.save_snapshot(Snapshot("al-1", "cam", "cam/d/al-1.jpg", 20, at(20), T0, 0))
    stage.feed(alert_msg(20))  # its snapshot exists (taken before a crash), no frame is buffered
    stage.now[0] += 6
    with caplog.at_level(logging.WARNING):
        stage.handler.on_idle()
    assert stage.store.clip_for("al-1") is None
    assert any("no clip" in r.getMessage() for r in caplog.records)
    assert stage.handler._clips_pending == {}


# -- bounds ---------------------------------------------------------------------------------------


def test_clips_waiting_are_capped_and_the_oldest_ends_early_with_what_it_has(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stage = Stage(tmp_path, clips=ClipSettings(before_s=1.0, after_s=1.0, fps=5.0, max_pending=3))
    stage.feed(*(m for n in range(21) for m in (frame_msg(n), tracks_msg(n))))
    with caplog.at_level(logging.WARNING):
        stage.feed(*(alert_msg(20, f"al-{k}") for k in range(5)))
    assert list(stage.handler._clips_pending) == ["al-2", "al-3", "al-4"]
    for k in (0, 1):  # ended early: the window up to the alert, which is what was buffered
        clip = stage.clip(f"al-{k}")
        assert clip is not None and [f.sequence for f in clip.frames][-1] == 20
    assert len([r for r in caplog.records if "too many clips" in r.getMessage()]) == 2


def test_a_camera_forgotten_by_the_camera_cap_ends_its_clips_first(tmp_path: Path) -> None:
    stage = Stage(tmp_path, max_cameras=1)
    stage.feed(*(m for n in range(21) for m in (frame_msg(n), tracks_msg(n))))
    stage.feed(alert_msg(20))
    stage.feed(frame_msg(1, camera="other"))  # "cam" is forgotten to make room
    clip = stage.clip()
    assert clip is not None and len(clip.frames) == 6  # 1.0 s before the alert, and the alert
    assert stage.handler._clips_pending == {}


def test_the_settings_keep_the_window_within_the_buffer_and_a_clip_within_one_answer() -> None:
    with pytest.raises(ValidationError, match=r"snapshots.buffer_s"):
        StorageSettings(
            snapshots=SnapshotSettings(buffer_s=3.0), clips=ClipSettings(before_s=2, after_s=2)
        )
    with pytest.raises(ValidationError, match=r"grpc.max_message_mb"):
        StorageSettings(clips=ClipSettings(max_mb=8.0))
    with pytest.raises(ValidationError, match=r"stills.max_age_s"):
        StorageSettings(stills=StillSettings(every_s=60, wait_s=5, max_age_s=60))
    StorageSettings(clips=ClipSettings(enabled=False, max_mb=100.0))  # not kept: not checked


# -- rewinds --------------------------------------------------------------------------------------


def test_an_alert_read_again_does_not_store_its_clip_twice(tmp_path: Path) -> None:
    stage = Stage(tmp_path)
    everything = [m for n in range(31) for m in (frame_msg(n), tracks_msg(n))]
    stage.feed(*everything, alert_msg(20))
    key = clip_key("cam", "al-1", at(20))
    assert stage.blobs.puts[key] == 1
    stage.feed(*everything, alert_msg(20))  # a rewind within the same run
    # ... and after a restart: a new stage, the same archive, the window read again.
    again = Stage(tmp_path, store=stage.store)
    again.feed(*everything, alert_msg(20))
    again.now[0] += 60
    again.handler.on_idle()
    assert stage.blobs.puts[key] == 1 and key not in again.blobs.puts
    assert again.handler._clips_pending == {}


def test_a_clip_a_crash_interrupted_is_made_when_the_rewind_reads_its_alert_again(
    tmp_path: Path,
) -> None:
    stage = Stage(tmp_path)
    stage.feed(*(m for n in range(21) for m in (frame_msg(n), tracks_msg(n))), alert_msg(20))
    assert stage.store.snapshot_for("al-1") is not None and stage.store.clip_for("al-1") is None
    # crash: the pending clip is lost with the process; the rewind reads it all again.
    again = Stage(tmp_path, store=stage.store)
    again.feed(*(m for n in range(31) for m in (frame_msg(n), tracks_msg(n))), alert_msg(20))
    clip = again.clip()
    assert clip is not None and len(clip.frames) == 11
    assert again.blobs.puts == {clip_key("cam", "al-1", at(20)): 1}  # no second snapshot


# -- stills ---------------------------------------------------------------------------------------


def test_a_still_is_taken_from_the_first_tracked_frame_then_every_every_s(tmp_path: Path) -> None:
    stage = Stage(tmp_path, stills=StillSettings(every_s=60.0, wait_s=5.0))
    key = still_key("cam")
    stage.feed(frame_msg(0), frame_msg(1))
    assert key not in stage.blobs.puts  # no tracks yet: the heads could not be blurred
    stage.feed(tracks_msg(1))
    still = unpack(stage.blobs.get(key))
    assert (still.kind, still.camera_id) == ("still", "cam")
    assert [f.sequence for f in still.frames] == [1]
    image = decoded(still.frames[0].jpeg)
    assert sharpness(image[12:38, 36:76]) < sharpness(NOISE[12:38, 36:76]) / 10  # head blurred
    assert red_pixels(image) == 0  # no boxes drawn on a still
    stage.now[0] += 59
    stage.feed(frame_msg(2), tracks_msg(2))
    assert stage.blobs.puts[key] == 1  # not due yet
    stage.now[0] += 1
    stage.feed(frame_msg(3), tracks_msg(3))
    assert stage.blobs.puts[key] == 2
    assert [f.sequence for f in unpack(stage.blobs.get(key)).frames] == [3]  # overwritten


def test_without_tracks_a_still_is_taken_after_a_short_wait(tmp_path: Path) -> None:
    stage = Stage(tmp_path, stills=StillSettings(every_s=60.0, wait_s=5.0))
    stage.feed(frame_msg(0), frame_msg(1))
    stage.now[0] += 4.9
    stage.handler.on_idle()
    assert still_key("cam") not in stage.blobs.puts
    stage.now[0] += 1.1  # overdue, and the cameras are looked over at most every second
    stage.handler.on_idle()
    still = unpack(stage.blobs.get(still_key("cam")))
    assert [f.sequence for f in still.frames] == [1]  # the newest frame, faces blurred only


def test_a_frame_that_does_not_decode_makes_no_still_and_stops_nothing(tmp_path: Path) -> None:
    stage = Stage(tmp_path, stills=StillSettings(every_s=60.0))
    stage.feed(frame_msg(0, data=b"\xff\xd8 not a jpeg"), tracks_msg(0))
    assert still_key("cam") not in stage.blobs.puts
    stage.now[0] += 60
    stage.feed(frame_msg(1), tracks_msg(1))
    assert [f.sequence for f in unpack(stage.blobs.get(still_key("cam"))).frames] == [1]


def test_still_state_is_bounded_by_the_camera_cap(tmp_path: Path) -> None:
    stage = Stage(tmp_path, stills=StillSettings(every_s=60.0), max_cameras=5)
    for c in range(50):
        stage.feed(frame_msg(0, camera=f"c{c}"), tracks_msg(0, camera=f"c{c}"))
    assert len(stage.handler._cameras) == 5
    assert len(stage.blobs.puts) == 50  # one still each, on first sight


# -- adapters and retention -----------------------------------------------------------------------


def snapshot(alert_id: str = "al-1", taken_at: float = T0) -> Snapshot:
    return Snapshot(alert_id, "cam", f"cam/d/{alert_id}.jpg", 20, taken_at, taken_at, 1, 160, 90)


def clip(alert_id: str = "al-1", taken_at: float = T0) -> Clip:
    return Clip(alert_id, f"cam/d/{alert_id}.clip", 11, taken_at + 2, 3, 160, 90)


@pytest.fixture(params=["sqlite", "cassandra-recorded"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> ArchiveStore:
    if request.param == "sqlite":
        return SqliteArchive(tmp_path / "a.sqlite")
    keep = {kind: 30.0 for kind in DataKind}
    return CassandraArchive(RecordingSession(), "ONE", keep, clock=lambda: T0)


def test_a_clip_is_kept_once_on_its_snapshot_and_expires_with_it(archive: ArchiveStore) -> None:
    assert archive.save_clip(clip()) is False  # no snapshot: nowhere to record it
    assert archive.clip_for("al-1") is None
    archive.save_snapshot(snapshot())
    archive.save_snapshot(snapshot("al-2", T0 + 10 * DAY))
    assert archive.clip_for("al-1") is None
    assert archive.save_clip(clip()) is True
    assert archive.save_clip(replace(clip(), frames=3)) is False  # the first one stays
    assert archive.clip_for("al-1") == clip()
    assert archive.snapshot_for("al-1") == snapshot()  # the snapshot is untouched
    expired = archive.expire(DataKind.SNAPSHOTS, T0 + 31 * DAY, 30 * DAY)
    assert sorted(expired) == ["cam/d/al-1.clip", "cam/d/al-1.jpg"]
    assert archive.clip_for("al-1") is None and archive.snapshot_for("al-2") is not None


def test_retention_removes_a_clip_file_with_its_snapshot_and_journals_both(
    tmp_path: Path,
) -> None:
    store = SqliteArchive(tmp_path / "a.sqlite")
    blobs = FileBlobStore(tmp_path / "blobs")
    for alert_id, taken in (("al-1", T0), ("al-2", T0 + 10 * DAY)):
        blobs.put(f"cam/d/{alert_id}.jpg", b"jpeg")
        blobs.put(f"cam/d/{alert_id}.clip", b"clip")
        store.save_snapshot(snapshot(alert_id, taken))
        store.save_clip(clip(alert_id, taken))
    job = RetentionJob(store, blobs, RetentionSettings(snapshots_days=30), lambda: T0)
    deleted = job.run(T0 + 31 * DAY)
    assert deleted == {DataKind.SNAPSHOTS: 1}
    for key in ("cam/d/al-1.jpg", "cam/d/al-1.clip"):
        with pytest.raises(KeyError):
            blobs.get(key)
    assert blobs.get("cam/d/al-2.clip") == b"clip" and store.clip_for("al-2") is not None
    details = store.audit_records()[-1].record.details
    assert (details["snapshots"], details["clips"]) == ("1", "1")
