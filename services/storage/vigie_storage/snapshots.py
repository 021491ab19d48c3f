"""Snapshots: for each alert, the frame it was raised on, boxes drawn and every face blurred.

A second stage of the storage service (group ``<group>-snapshots``) reads frames, tracks and
alerts. Frames and the tracks of each frame are kept per camera until the camera's tracks are
``buffer_s`` past them: frames are read as fast as they come, while alerts follow the tracks,
so the frames an alert may still need are those the tracks have not left far behind (in a
replay or a backlog, frames run well ahead of tracks). Three bounds cap the memory whatever
the input does: ``max_frames_per_camera`` per camera, ``max_buffer_mb`` across all cameras (the
camera holding the most bytes loses its oldest frames first, so one runaway camera cannot push
the others' frames out), and ``idle_s``/``max_cameras`` for cameras that stopped sending, or
that a flood of distinct ids invented. Alerts waiting for their frame are capped by
``max_pending``; every eviction is counted and warned about.

The stage reads its topics at once, so a frame's tracks can come before the frame itself
(after a rewind, or when tracks catch up on a backlog): they are kept, per camera and bounded
like the frames, until their frame comes, so no frame loses the head blur of its persons.

When a new alert arrives, its frame is looked up by sequence and capture time, drawn,
redacted, encoded and put in the blob store, and the archive records where. An alert that
arrives before its frame waits for it: up to ``wait_s`` once the stage has read its camera's
frames past the alert's, and on while it has not yet read that far (up to ``pin_s``); one whose
frame never comes is logged and counted, never silently dropped.

The buffer is memory, not state worth saving (megabytes of JPEG per camera), yet an alert may
need a frame whose offset was committed before a crash. So the stage *rewinds*: when a
partition is assigned, it starts ``rewind_messages`` messages before the committed position of
frames, tracks and alerts, and reads that recent window again; frames already buffered are not
added twice and alerts already snapshotted are recognised by the archive.

The same stage keeps, when given their settings, a **clip** of each alert (the frames from
``clips.before_s`` before its frame to ``clips.after_s`` after it, see :mod:`vigie_storage.clips`)
and a **still** of each camera. A clip starts once the snapshot is taken and waits for its
"after" frames *and their tracks* (so the heads of persons are blurred in every frame), at most
``clips.wait_s``; a camera that stops, or is forgotten by a bound, ends its clips with the
frames buffered, and the log says how many. Clips waiting are capped by ``clips.max_pending``.
Frames are taken from the buffer when the clip ends, so a clip costs no memory of its own, and
the buffer must hold ``before_s + after_s`` of frames (``buffer_s``, checked in the settings).
A still is taken from a camera's first frame whose tracks came, then every ``stills.every_s``,
or from its newest frame when no tracks came ``stills.wait_s`` after it was due; its state
lives with the camera's buffer, so the camera cap bounds it too.

Redaction is deliberately redundant: every face the res10 detector finds at a low confidence is
blurred with a margin, and so is the head of every person box (the top of the box), so a face
the detector misses (profile, small, blurred by motion) is covered anyway. Nothing here tries to
tell who anyone is.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import cv2
import numpy as np
from prometheus_client import Counter, Gauge
from pydantic import Field

from vigie_core.types import Alert, Box, Event, EventKind, FrameRef, FrameTracks, Track
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.faces import FaceFinder
from vigie_runtime.images import InvalidImage, decode_jpeg
from vigie_runtime.settings import StrictModel
from vigie_runtime.topics import ALERTS, EVENTS, FRAMES, TRACKS
from vigie_storage.blobs import BlobStore
from vigie_storage.clips import (
    ClipSettings,
    Media,
    MediaFrame,
    StillSettings,
    clip_key,
    pack,
    pick_frames,
    still_key,
    within_bytes,
)
from vigie_storage.frame_time import TIME_MATCH_S, same_capture
from vigie_storage.pins import FramePins
from vigie_storage.ports import ArchiveStore, Clip, Snapshot

log = logging.getLogger(__name__)

SNAPSHOTS = Counter(
    "vigie_snapshots_total", "Alert snapshots, by outcome (stored, missing)", ["outcome"]
)
BUFFER_BYTES = Gauge("vigie_snapshot_buffer_bytes", "JPEG bytes held by the snapshot buffer")
BUFFER_CAMERAS = Gauge("vigie_snapshot_buffer_cameras", "Cameras the snapshot buffer holds")
BUFFER_EVICTED = Counter(
    "vigie_snapshot_buffer_evicted_total",
    "Frames dropped from the snapshot buffer by a memory bound (budget, camera_cap), or cameras"
    " forgotten (idle, too_many_cameras)",
    ["reason"],
)
CLIPS = Counter(
    "vigie_clips_total",
    "Alert clips, by how they ended: complete (the window's frames and tracks came), timeout"
    " (clips.wait_s passed), camera_gone (the buffer forgot the camera), overflow"
    " (clips.max_pending), empty (no frame to keep), failed (the blob could not be written)",
    ["outcome"],
)
CLIP_FRAMES = Counter("vigie_clip_frames_total", "Redacted frames stored in alert clips")
CLIPS_PENDING = Gauge("vigie_clips_pending", "Clips waiting for the frames after their alert")
# An alert waiting for its frame holds no offset: a pipeline at zero lag may still owe snapshots,
# and a drain (or an operator before a restart) reads this to know none is due.
SNAPSHOTS_PENDING = Gauge("vigie_snapshots_pending", "Alerts waiting for their frame's snapshot")
STILLS = Counter(
    "vigie_stills_total",
    "Camera stills, by outcome: tracked (heads blurred too), untracked (no tracks came in"
    " time: faces only), undecodable (the frame was not an image), failed (not written)",
    ["outcome"],
)
STILL_CHECK_S = 1.0  # how often cameras are looked over for a still overdue without tracks
DONE_IDS = 10_000  # alerts already snapshotted, remembered so a re-read alert costs no lookup
CAMERA_TROUBLE = frozenset({EventKind.CAMERA_STALLED, EventKind.CAMERA_OFFLINE})
# The top of a person box is blurred whatever the face detector says: detector boxes often
# start well above the head, and a face sits within the top 45% of a standing person's box.
HEAD_SHARE = 0.45
FACE_MARGIN = 0.35  # blur this much wider than the face box on each side


class SnapshotSettings(StrictModel):
    enabled: bool = True
    buffer_s: float = 30.0  # frames are kept until the camera's tracks are this far past them
    # How long an alert waits for its frame once the stage has read its camera's frames past
    # it (half of it for the frame's tracks); while behind, it waits on, up to pin_s.
    wait_s: float = 30.0
    max_frames_per_camera: int = 1500  # at ~40 kB a JPEG, 60 MB per camera at most
    # JPEG bytes across all cameras: 600 MB is ~50 cameras at 10 fps, 40 kB a frame, 30 s each.
    # Over it, the camera holding the most bytes loses its oldest frames first.
    max_buffer_mb: float = Field(600.0, gt=0)
    # A camera with no frame for this long is forgotten (its frames and its tracks' time).
    idle_s: float = Field(300.0, gt=0)
    # Cameras held at most (a flood of distinct ids): beyond it, the least recently framed goes.
    max_cameras: int = Field(1000, ge=1)
    # Alerts waiting for their frame at most; beyond it, the oldest is given up (counted).
    max_pending: int = Field(2000, ge=1)
    # Messages per partition re-read before the committed position when a partition is
    # assigned (after a crash or a rebalance), so the frames a pending alert needs come back.
    rewind_messages: int = Field(1500, ge=0)
    # Each event's frame is pinned this long (wall clock) for the alert it may become, so an
    # alert that comes late (alerting behind its tracks) still finds its frame; see pins.py.
    pin_s: float = Field(600.0, gt=0)
    # Frames pinned at most (0: none); beyond it the oldest pin goes, counted and warned about.
    max_pinned: int = Field(500, ge=0)
    # JPEG bytes pinned at most: a pinned frame may have left the buffer (and its budget).
    max_pinned_mb: float = Field(100.0, gt=0)
    face_confidence: float = 0.3  # low on purpose: a false blur costs nothing
    # Added to the nice value of the stage's thread: redaction (about a second of CPU a frame)
    # may wait, detection may not, when they share cores. 0 keeps the service's priority.
    nice: int = Field(10, ge=0, le=19)
    # Redaction runs only on a core nothing else wants (SCHED_IDLE, Linux). Nice alone left
    # the pipeline at 0.78 of the raw detector on two cores (0.99 with redaction off): the
    # niced thread still holds its core, so the live path's wake-ups share detection's.
    # On a node that is never idle, snapshots then wait: see docs/operations.md.
    idle: bool = True
    # How long the stage may go without a turn before liveness fails. On idle cores only, a
    # busy node can hold it minutes; a restart would not make it faster and would lose the
    # buffer, so its limit is longer than the service's. A stage stuck for good still fails.
    liveness_timeout_s: float = Field(900.0, ge=5, le=86_400)
    # OpenCV threads of the storage process (redaction is nearly all of its OpenCV work). 1
    # keeps the face net on the stage's own low-priority thread, not on a pool of one thread
    # per core whose priority depends on which thread first started it.
    threads: int = Field(1, ge=1, le=64)
    jpeg_quality: int = 85


@dataclass(slots=True)
class _Frame:
    sequence: int
    captured_at: float
    jpeg: bytes
    tracks: tuple[Track, ...] = ()
    tracked: bool = False  # its tracks came (``tracks`` may still be empty: nobody there)


@dataclass(slots=True)
class _Camera:
    frames: deque[_Frame] = field(default_factory=deque)
    by_sequence: dict[int, _Frame] = field(default_factory=dict)
    tracked_until: float = float("-inf")  # capture time of the newest tracks seen
    full: bool = False  # the memory cap is evicting frames (warned once per episode)
    # The handler's clock when its last frame or tracks came: a camera whose tracks are still
    # arriving (the pipeline catching up on a backlog) still needs the frames it buffered.
    last_active_at: float = float("-inf")
    bytes: int = 0  # JPEG bytes buffered
    newest_at: float = float("-inf")  # capture time of the newest frame buffered
    still_due_at: float = float("inf")  # the handler's clock when its next still is due
    # Tracks read before their frame, by frame sequence. The stage reads several topics at
    # once: after a rewind (or under a backlog) a frame's tracks can come first, and dropping
    # them would leave the frame's persons without their head blur, and its alert waiting.
    early: OrderedDict[int, FrameTracks] = field(default_factory=OrderedDict)

    def find(self, ref: FrameRef) -> _Frame | None:
        frame = self.by_sequence.get(ref.sequence)
        if frame is not None and same_capture(frame.captured_at, ref.captured_at):
            return frame
        return None

    def add(self, frame: _Frame) -> bool:
        """Buffer ``frame`` unless it already is (a rewind reads recent frames again), with its
        tracks when they came first."""
        if self.find(FrameRef("", frame.sequence, frame.captured_at, 0, 0)) is not None:
            return False
        early = self.early.get(frame.sequence)
        if early is not None and same_capture(early.frame.captured_at, frame.captured_at):
            del self.early[frame.sequence]
            frame.tracks, frame.tracked = early.tracks, True
        self.frames.append(frame)
        self.by_sequence[frame.sequence] = frame
        self.bytes += len(frame.jpeg)
        self.newest_at = max(self.newest_at, frame.captured_at)
        return True

    def drop_oldest(self) -> int:
        """Drop the oldest frame; returns the bytes freed."""
        frame = self.frames.popleft()
        if self.by_sequence.get(frame.sequence) is frame:
            del self.by_sequence[frame.sequence]
        self.bytes -= len(frame.jpeg)
        return len(frame.jpeg)


def _pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1 = max(0, int(box.x1 * width)), max(0, int(box.y1 * height))
    x2, y2 = min(width, round(box.x2 * width)), min(height, round(box.y2 * height))
    return x1, y1, x2, y2


def _blur(image: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> bool:
    """Pixelate then blur a region so nothing of its detail survives; False if it is empty."""
    if x2 - x1 < 2 or y2 - y1 < 2:
        return False
    region = image[y1:y2, x1:x2]
    small = cv2.resize(region, (max(1, (x2 - x1) // 12), max(1, (y2 - y1) // 12)))
    coarse = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    image[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (0, 0), sigmaX=max(2.0, (x2 - x1) / 6))
    return True


def redact(image: np.ndarray, faces: FaceFinder, tracks: Sequence[Track]) -> int:
    """Blur every face found and the head of every person; returns how many faces were found."""
    height, width = image.shape[:2]
    found = faces.find_everywhere(image)
    for x, y, w, h in found:
        mx, my = int(w * FACE_MARGIN), int(h * FACE_MARGIN)
        _blur(
            image, max(0, x - mx), max(0, y - my), min(width, x + w + mx), min(height, y + h + my)
        )
    for track in tracks:
        if track.class_name != "person":
            continue
        x1, y1, x2, y2 = _pixels(track.box, width, height)
        head_bottom = y1 + max(2, int((y2 - y1) * HEAD_SHARE))
        _blur(image, x1, y1, x2, min(y2, head_bottom))
    return len(found)


def draw(image: np.ndarray, tracks: Sequence[Track], alert: Alert) -> None:
    """The alert's tracks in red with their class, the others thin and grey."""
    height, width = image.shape[:2]
    involved = set(alert.track_ids)
    for track in tracks:
        x1, y1, x2, y2 = _pixels(track.box, width, height)
        if track.track_id in involved:
            cv2.rectangle(image, (x1, y1), (x2, y2), (0, 0, 255), 2)
            cv2.putText(
                image, track.class_name, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (0, 0, 255), 1, cv2.LINE_AA,
            )  # fmt: skip
        else:
            cv2.rectangle(image, (x1, y1), (x2, y2), (160, 160, 160), 1)
    caption = f"{alert.kind} {alert.zone or ''} {alert.camera_id}".strip()
    cv2.putText(
        image, caption, (6, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
        cv2.LINE_AA,
    )  # fmt: skip


@dataclass(slots=True)
class _PendingClip:
    """A clip waiting for the frames after its alert (and their tracks)."""

    alert: Alert
    center: float  # capture time of the alert's frame
    deadline: float  # the handler's clock when it ends with what came


def blob_key(alert: Alert, captured_at: float) -> str:
    day = datetime.fromtimestamp(captured_at, UTC).strftime("%Y-%m-%d")
    safe_camera = "".join(c if c.isalnum() or c in "._-" else "_" for c in alert.camera_id)
    return f"{safe_camera}/{day}/{alert.alert_id}.jpg"


Decoded = tuple[str, object]


class SnapshotHandler:
    """Stage handler: frames and tracks into the buffer, alerts into snapshots."""

    def __init__(
        self,
        store: ArchiveStore,
        blobs: BlobStore,
        faces: FaceFinder,
        settings: SnapshotSettings,
        clock: Callable[[], float] = time.time,
        *,
        clips: ClipSettings | None = None,
        stills: StillSettings | None = None,
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        """``clips`` and ``stills``: None (or not enabled) keeps neither. Clips need snapshots
        (a clip is recorded on its alert's snapshot row), so ``settings.enabled`` false keeps
        no clip either; stills do not. ``beat`` is called before each frame is redacted: a
        clip is seconds of CPU per frame at low priority, which is progress, not a stuck
        stage, and liveness must tell the two apart."""
        self.store, self.blobs, self.faces = store, blobs, faces
        self.beat = beat
        self.settings, self.clock = settings, clock
        self.clips = clips if clips is not None and clips.enabled and settings.enabled else None
        self.stills = stills if stills is not None and stills.enabled else None
        self._clips_pending: OrderedDict[str, _PendingClip] = OrderedDict()
        self._stills_checked_at = float("-inf")
        # Ordered by the last frame or tracks of each camera (least recent first), so idle
        # cameras and the victims of the camera cap are found at the front.
        self._cameras: OrderedDict[str, _Camera] = OrderedDict()
        self._bytes = 0  # JPEG bytes across all cameras
        self._over_budget = False  # the byte budget is evicting (warned once per episode)
        # Alerts waiting for their frame (or its tracks), with the clock when they came.
        self._pending: OrderedDict[str, tuple[Alert, float]] = OrderedDict()
        self._done: OrderedDict[str, None] = OrderedDict()
        self._pins: FramePins[_Frame] = FramePins(
            settings.pin_s, settings.max_pinned, int(settings.max_pinned_mb * 1_000_000)
        )

    def rewind(self) -> dict[str, int]:
        """What the stage re-reads on assignment: its recent window of every input."""
        n = self.settings.rewind_messages
        return {FRAMES: n, TRACKS: n, EVENTS: n, ALERTS: n} if n else {}

    def decode(self, message: Message) -> Decoded:
        if message.topic == FRAMES:
            return FRAMES, codec.decode_frame(message.value, key=message.key)
        if message.topic == TRACKS:
            return TRACKS, codec.decode_tracks(message.value, key=message.key)
        if message.topic == ALERTS:
            return ALERTS, codec.decode_alert(message.value, key=message.key)
        if message.topic == EVENTS:
            return EVENTS, codec.decode_event(message.value, key=message.key)
        raise ValueError(f"the snapshot stage does not read topic {message.topic}")

    def handle(self, item: Decoded, message: Message) -> Sequence[Output]:
        topic, value = item
        self._forget_idle()  # cheap: only the front of the buffer is looked at
        self._pins.expire(self.clock())  # as cheap: only the oldest pins are looked at
        if topic == FRAMES:
            self._add_frame(value)
        elif topic == TRACKS:
            self._add_tracks(value)  # type: ignore[arg-type]
        elif topic == EVENTS:
            self._pin(value)  # type: ignore[arg-type]
        else:
            self._want(value)  # type: ignore[arg-type]
        self._retry_pending()
        self._retry_clips()
        self._overdue_stills()
        return []

    # -- buffers ----------------------------------------------------------------------------------

    def _add_frame(self, frame: object) -> None:
        camera_id = frame.camera_id  # type: ignore[attr-defined]
        captured_at = codec.time_from_proto(frame.captured_at)  # type: ignore[attr-defined]
        camera = self._camera(camera_id)
        camera.last_active_at = self.clock()
        self._cameras.move_to_end(camera_id)
        before = camera.bytes
        added = _Frame(int(frame.sequence), captured_at, bytes(frame.jpeg))  # type: ignore[attr-defined]
        if camera.add(added):
            self._pins.offer(camera_id, added)
            if added.tracked:
                self._tracked(camera_id, camera, added)
        self._bytes += camera.bytes - before
        self._prune(camera_id, camera)
        self._keep_budget()

    def _camera(self, camera_id: str) -> _Camera:
        """The camera's buffer, made on first sight; idle cameras and those beyond the camera
        cap are forgotten first, so distinct ids cannot grow the map without bound."""
        camera = self._cameras.get(camera_id)
        if camera is not None:
            return camera
        self._forget_idle()
        while len(self._cameras) >= self.settings.max_cameras:
            self._forget(next(iter(self._cameras)), "too_many_cameras")
        now = self.clock()
        camera = self._cameras[camera_id] = _Camera(last_active_at=now, still_due_at=now)
        BUFFER_CAMERAS.set(len(self._cameras))
        return camera

    def _forget_idle(self) -> None:
        cutoff = self.clock() - self.settings.idle_s
        while self._cameras:
            camera_id, camera = next(iter(self._cameras.items()))
            if camera.last_active_at >= cutoff:
                break
            self._forget(camera_id, "idle")

    def _forget(self, camera_id: str, reason: str) -> None:
        # Its clips end now with the frames it holds: once forgotten, they are gone.
        for alert_id, pending in list(self._clips_pending.items()):
            if pending.alert.camera_id == camera_id:
                del self._clips_pending[alert_id]
                self._finish_clip(pending, "camera_gone")
        CLIPS_PENDING.set(len(self._clips_pending))
        camera = self._cameras.pop(camera_id)
        self._bytes -= camera.bytes
        BUFFER_EVICTED.labels(reason).inc()
        BUFFER_CAMERAS.set(len(self._cameras))
        BUFFER_BYTES.set(self._bytes)
        log.info(
            "snapshot buffer forgot a camera",
            extra={"camera": camera_id, "why": reason, "frames": len(camera.frames)},
        )
        if reason == "too_many_cameras":
            log.warning(
                "snapshot buffer holds its maximum of cameras: forgetting the least recent",
                extra={"camera": camera_id, "cameras": self.settings.max_cameras},
            )

    def _prune(self, camera_id: str, camera: _Camera) -> None:
        oldest = camera.tracked_until - self.settings.buffer_s
        while camera.frames and camera.frames[0].captured_at < oldest:
            self._bytes -= camera.drop_oldest()
        while camera.early and next(iter(camera.early.values())).frame.captured_at < oldest:
            camera.early.popitem(last=False)  # its frame never came in time: nothing to wait for
        over = len(camera.frames) > self.settings.max_frames_per_camera
        if over and not camera.full:
            log.warning(
                "snapshot buffer full: dropping the oldest frames before their tracks arrived",
                extra={"camera": camera_id, "frames": len(camera.frames)},
            )
        camera.full = over
        while len(camera.frames) > self.settings.max_frames_per_camera:
            self._bytes -= camera.drop_oldest()
            BUFFER_EVICTED.labels("camera_cap").inc()
        BUFFER_BYTES.set(self._bytes)

    def _keep_budget(self) -> None:
        """Hold the bytes of all cameras under ``max_buffer_mb``.

        The camera holding the most bytes loses its oldest frame, again until under budget.
        Not the globally oldest frame: capture times come from outside, and a camera flooding
        frames (or one whose tracks stalled, so nothing prunes it) would then push out every
        other camera's recent frames; taking from the biggest keeps the damage where it starts.
        """
        budget = int(self.settings.max_buffer_mb * 1_000_000)
        over = self._bytes > budget
        if over and not self._over_budget:
            log.warning(
                "snapshot buffer over its memory budget: dropping the oldest frames of the"
                " camera holding the most",
                extra={"bytes": self._bytes, "cameras": len(self._cameras)},
            )
        self._over_budget = over
        while self._bytes > budget:
            biggest = max(self._cameras.values(), key=lambda c: c.bytes)
            if not biggest.frames:
                break
            self._bytes -= biggest.drop_oldest()
            BUFFER_EVICTED.labels("budget").inc()
        BUFFER_BYTES.set(self._bytes)

    def buffered_bytes(self) -> int:
        """JPEG bytes held across all cameras (what ``max_buffer_mb`` bounds)."""
        return self._bytes

    def _add_tracks(self, frame_tracks: FrameTracks) -> None:
        camera_id = frame_tracks.frame.camera_id
        camera = self._camera(camera_id)
        camera.last_active_at = self.clock()
        self._cameras.move_to_end(camera_id)
        found = camera.find(frame_tracks.frame)
        pinned = self._pins.find(frame_tracks.frame) if found is None else None
        if found is not None:
            found.tracks = frame_tracks.tracks
            found.tracked = True
            self._tracked(camera_id, camera, found)
        elif pinned is not None:  # left the buffer, kept for its alert: no still from it
            pinned.tracks = frame_tracks.tracks
            pinned.tracked = True
        elif frame_tracks.frame.captured_at > camera.tracked_until - self.settings.buffer_s:
            # Its frame may still come (read from another topic): kept for it, bounded.
            camera.early[frame_tracks.frame.sequence] = frame_tracks
            camera.early.move_to_end(frame_tracks.frame.sequence)
            while len(camera.early) > self.settings.max_frames_per_camera:
                camera.early.popitem(last=False)
        camera.tracked_until = max(camera.tracked_until, frame_tracks.frame.captured_at)
        self._prune(camera_id, camera)

    def _tracked(self, camera_id: str, camera: _Camera, frame: _Frame) -> None:
        """A buffered frame now has its tracks: the camera's still may be due."""
        if self.stills is not None and self.clock() >= camera.still_due_at:
            self._take_still(camera_id, camera, frame)

    # -- alerts -----------------------------------------------------------------------------------

    def _pin(self, event: Event) -> None:
        """Keep the event's frame for the alert it may become (it may not be read yet). A
        camera's own trouble (stalled, offline) names the last frame it sent, not a scene."""
        if event.kind in CAMERA_TROUBLE:
            return
        self._hold(event.frame)

    def _hold(self, ref: FrameRef) -> None:
        """Pin a frame, buffered or still to come, so the buffer's pruning cannot lose it."""
        self._pins.pin(ref, self._find(ref), self.clock())

    def _find(self, ref: FrameRef) -> _Frame | None:
        """An alert's frame: in its camera's buffer, or pinned by its event."""
        camera = self._cameras.get(ref.camera_id)
        found = camera.find(ref) if camera is not None else None
        return found if found is not None else self._pins.find(ref)

    def _want(self, alert: Alert) -> None:
        if not self.settings.enabled or alert.frame is None:
            return
        alert_id = alert.alert_id
        if alert_id in self._done or alert_id in self._pending or alert_id in self._clips_pending:
            return
        if self.store.snapshot_for(alert_id) is not None:
            self._pins.release(alert.frame)  # taken before a crash or a rewind
            # Read again (a rewind, a merged alert): its clip may be what a crash interrupted.
            if self.clips is not None and self.store.clip_for(alert_id) is None:
                self._wait_for_clip(alert, alert.frame.captured_at)
            else:
                self._remember(alert_id)
            return
        self._pending[alert.alert_id] = (alert, self.clock())
        # The alert holds its frame as its event's pin does: after a rewind the alerts are read
        # long before the frames, the tracks run ahead and prune each frame as it comes, and
        # the event's pin is missing when the event was read after its frame had gone.
        self._hold(alert.frame)
        while len(self._pending) > self.settings.max_pending:
            alert_id, (oldest, _) = self._pending.popitem(last=False)
            SNAPSHOTS.labels("missing").inc()
            log.warning(
                "no snapshot: too many alerts waiting for their frame, the oldest is given up",
                extra={"alert_id": alert_id, "camera": oldest.camera_id},
            )
        SNAPSHOTS_PENDING.set(len(self._pending))

    def _retry_pending(self) -> None:
        """Take each waiting alert whose frame and tracks have come. ``wait_s`` is judged
        against what this stage has read, not the wall clock alone: while it has not yet read
        the camera's frames (or tracks) as far as the alert's frame, it is behind (a backlog, a
        rewind, redaction on idle cores), not missing anything, and the alert waits on, up to
        ``pin_s``. Once it has read past them, half of ``wait_s`` takes the frame without its
        tracks, and ``wait_s`` gives a frame never seen up."""
        now = self.clock()
        wait_s, most_s = self.settings.wait_s, max(self.settings.wait_s, self.settings.pin_s)
        for alert_id, (alert, came_at) in list(self._pending.items()):
            assert alert.frame is not None  # only such alerts wait
            waited_s, at = now - came_at, alert.frame.captured_at
            camera = self._cameras.get(alert.camera_id)
            frames_read = camera is not None and camera.newest_at >= at
            tracks_read = camera is not None and camera.tracked_until >= at
            frame = self._find(alert.frame)
            if frame is not None and (
                frame.tracked or (tracks_read and waited_s >= wait_s / 2) or waited_s >= most_s
            ):
                del self._pending[alert_id]
                self._take(alert, frame)
            elif frame is None and ((frames_read and waited_s >= wait_s) or waited_s >= most_s):
                del self._pending[alert_id]
                # Given up once: its updates (an escalation a minute) neither wait nor count again.
                self._remember(alert_id)
                SNAPSHOTS.labels("missing").inc()
                log.warning(
                    "no snapshot: the alert's frame was not seen in time",
                    extra={
                        "alert_id": alert_id,
                        "camera": alert.camera_id,
                        "waited_s": round(waited_s, 1),
                        "frames_read_past_it": frames_read,
                        **self._whereabouts(alert.frame),
                    },
                )
                self._pins.release(alert.frame)
        SNAPSHOTS_PENDING.set(len(self._pending))

    def _whereabouts(self, ref: FrameRef) -> dict[str, object]:
        """Where a frame not found should have been: the frame asked for, what its camera's
        buffer holds, and whether an event pinned it, so a missing snapshot can be explained
        from the log alone."""
        camera = self._cameras.get(ref.camera_id)
        held = camera is not None and bool(camera.frames)
        return {
            "frame_sequence": ref.sequence,
            "frame_at": round(ref.captured_at, 3),
            "buffer_from": round(camera.frames[0].captured_at, 3) if held else None,
            "buffer_to": round(camera.newest_at, 3) if held else None,
            "tracked_until": round(camera.tracked_until, 3) if camera is not None else None,
            "pinned": self._pins.state(ref),
        }

    def _render(self, frame: _Frame, alert: Alert | None) -> tuple[bytes, int, int, int]:
        """The frame redacted (every face found and the head of every person blurred), the
        alert's boxes drawn when there is one, as JPEG: ``(jpeg, faces, width, height)``. The
        snapshot, every frame of a clip and the stills all go through here, so they are all
        redacted alike."""
        self.beat()
        image = decode_jpeg(frame.jpeg)
        faces = redact(image, self.faces, frame.tracks)
        if alert is not None:
            draw(image, frame.tracks, alert)
        ok, encoded = cv2.imencode(
            ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.settings.jpeg_quality]
        )
        if not ok:
            raise RuntimeError(f"could not encode frame {frame.sequence} as JPEG")
        height, width = image.shape[:2]
        return encoded.tobytes(), faces, width, height

    def _take(self, alert: Alert, frame: _Frame) -> None:
        jpeg, faces, width, height = self._render(frame, alert)
        key = blob_key(alert, frame.captured_at)
        self.blobs.put(key, jpeg)
        self.store.save_snapshot(
            Snapshot(
                alert.alert_id,
                alert.camera_id,
                key,
                frame.sequence,
                frame.captured_at,
                self.clock(),
                faces,
                width,
                height,
            )
        )
        SNAPSHOTS.labels("stored").inc()
        if alert.frame is not None:
            self._pins.release(alert.frame)
        if self.clips is not None:
            self._wait_for_clip(alert, frame.captured_at)
        else:
            self._remember(alert.alert_id)

    def _remember(self, alert_id: str) -> None:
        self._done[alert_id] = None
        while len(self._done) > DONE_IDS:
            self._done.popitem(last=False)

    # -- clips ------------------------------------------------------------------------------------

    def _wait_for_clip(self, alert: Alert, center: float) -> None:
        """The alert's clip waits for its "after" frames; over ``max_pending`` the oldest
        waiting ends at once with what is buffered."""
        assert self.clips is not None
        self._clips_pending[alert.alert_id] = _PendingClip(
            alert, center, self.clock() + self.clips.wait_s
        )
        while len(self._clips_pending) > self.clips.max_pending:
            _, oldest = self._clips_pending.popitem(last=False)
            log.warning(
                "too many clips waiting for their frames: the oldest ends now with what came",
                extra={"alert_id": oldest.alert.alert_id, "max_pending": self.clips.max_pending},
            )
            self._finish_clip(oldest, "overflow")
        CLIPS_PENDING.set(len(self._clips_pending))

    def _retry_clips(self) -> None:
        """A clip ends once its camera's frames and tracks are both past its window (every
        frame in it has come, with its tracks), or at its deadline with what came."""
        if not self._clips_pending:
            return
        assert self.clips is not None
        now = self.clock()
        for alert_id, pending in list(self._clips_pending.items()):
            end = pending.center + self.clips.after_s - TIME_MATCH_S
            camera = self._cameras.get(pending.alert.camera_id)
            if camera is not None and camera.newest_at >= end and camera.tracked_until >= end:
                del self._clips_pending[alert_id]
                self._finish_clip(pending, "complete")
            elif now >= pending.deadline:
                del self._clips_pending[alert_id]
                self._finish_clip(pending, "timeout")
        CLIPS_PENDING.set(len(self._clips_pending))

    def _finish_clip(self, pending: _PendingClip, why: str) -> None:
        """Redact the frames of the window the buffer holds, store them as one blob and record
        it on the snapshot's row. Whatever ``why``, what was buffered is kept and the log says
        how many frames; a clip with no frame at all is counted and logged, never silent."""
        assert self.clips is not None
        clips, alert = self.clips, pending.alert
        camera = self._cameras.get(alert.camera_id)
        buffered = list(camera.frames) if camera is not None else []
        picked = pick_frames(
            [f.captured_at for f in buffered], pending.center, clips.before_s, clips.after_s,
            clips.fps, clips.max_frames,
        )  # fmt: skip
        frames: list[MediaFrame] = []
        width = height = 0
        for index in picked:
            frame = buffered[index]
            try:
                jpeg, faces, width, height = self._render(frame, alert)
            except InvalidImage as exc:
                log.warning(
                    "a clip frame does not decode: left out",
                    extra={"alert_id": alert.alert_id, "sequence": frame.sequence, "error": exc},
                )
                continue
            at_alert = same_capture(frame.captured_at, pending.center)
            frames.append(MediaFrame(frame.sequence, frame.captured_at, jpeg, at_alert, faces))
        kept = within_bytes(frames, pending.center, int(clips.max_mb * 1_000_000))
        about = {
            "alert_id": alert.alert_id,
            "camera": alert.camera_id,
            "why": why,
            "frames": len(kept),
            "dropped_for_size": len(frames) - len(kept),
            "from_s": round(kept[0].captured_at - pending.center, 3) if kept else None,
            "to_s": round(kept[-1].captured_at - pending.center, 3) if kept else None,
        }
        if not kept:
            CLIPS.labels("empty").inc()
            log.warning("no clip: none of the alert's frames is buffered", extra=about)
            self._remember(alert.alert_id)
            return
        now = self.clock()
        media = Media("clip", alert.camera_id, alert.alert_id, now, width, height, tuple(kept))
        key = clip_key(alert.camera_id, alert.alert_id, pending.center)
        try:
            self.blobs.put(key, pack(media))
        except OSError:
            CLIPS.labels("failed").inc()
            log.exception("clip not stored: the blob store refused it", extra=about)
            return  # not remembered: a rewind reading the alert again retries it
        clip = Clip(alert.alert_id, key, len(kept), now, media.faces_blurred, width, height)
        recorded = self.store.save_clip(clip)
        CLIPS.labels(why).inc()
        CLIP_FRAMES.inc(len(kept))
        if why == "complete" and not about["dropped_for_size"]:
            log.info("clip stored", extra={**about, "recorded": recorded})
        else:
            log.warning(
                "clip stored with the frames that came", extra={**about, "recorded": recorded}
            )
        self._remember(alert.alert_id)

    # -- stills -----------------------------------------------------------------------------------

    def _overdue_stills(self) -> None:
        """Cameras whose still is overdue by ``stills.wait_s`` (no frame's tracks came: the
        tracking stage is down or behind) get one from their newest frame anyway. Looked over
        at most every :data:`STILL_CHECK_S`, so a busy stage does not walk every camera per
        message."""
        if self.stills is None:
            return
        now = self.clock()
        if now < self._stills_checked_at + STILL_CHECK_S:
            return
        self._stills_checked_at = now
        for camera_id, camera in list(self._cameras.items()):
            if camera.frames and now >= camera.still_due_at + self.stills.wait_s:
                tracked = [f for f in camera.frames if f.tracked]
                newest = max(tracked or camera.frames, key=lambda f: f.captured_at)
                self._take_still(camera_id, camera, newest)

    def _take_still(self, camera_id: str, camera: _Camera, frame: _Frame) -> None:
        """The camera's still, redacted, no boxes, over the last one. A still is renewed every
        ``every_s`` whatever happens to this one, so a frame that does not decode or a write
        that fails is counted and logged, and never holds up the frames and tracks."""
        assert self.stills is not None
        now = self.clock()
        camera.still_due_at = now + self.stills.every_s
        try:
            jpeg, faces, width, height = self._render(frame, None)
        except InvalidImage as exc:
            STILLS.labels("undecodable").inc()
            log.warning(
                "no still: the frame does not decode",
                extra={"camera": camera_id, "sequence": frame.sequence, "error": exc},
            )
            return
        still = MediaFrame(frame.sequence, frame.captured_at, jpeg, False, faces)
        media = Media("still", camera_id, "", now, width, height, (still,))
        try:
            self.blobs.put(still_key(camera_id), pack(media))
        except OSError:
            STILLS.labels("failed").inc()
            log.exception("no still: the blob store refused it", extra={"camera": camera_id})
            return
        STILLS.labels("tracked" if frame.tracked else "untracked").inc()

    def on_idle(self) -> list[Output]:
        self._forget_idle()
        self._pins.expire(self.clock())
        self._retry_pending()
        self._retry_clips()
        self._overdue_stills()
        return []
