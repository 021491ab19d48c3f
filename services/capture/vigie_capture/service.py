"""The capture service: read cameras, publish JPEG frames keyed by camera id.

Capture times are media times anchored to the session start, so a file replayed as fast as
possible and the same file paced in real time carry the same time axis: trackers and dwell
rules behave identically, only the wall-clock latency differs.

A capture time is never ahead of the wall clock, because every later stage refuses a message
from the future (:mod:`vigie_runtime.timebounds`). Real-time pacing waits for each frame's time;
a fast replay anchors the session so that its known length ends now (all of it in the recent
past), and beyond a length it cannot know (an endless loop) it waits like real-time pacing.

Cameras are watched (:mod:`vigie_capture.watch`). Each camera's reader thread reconnects with
back-off when its source will not open or stops giving frames: a stream URL for as long as
capture runs, a file or device path a few times (it may be mounted late) before the camera is
given up and capture fails (exit 1). Every reconnection is a new session (sequence from 0). A
monitor thread, which never touches a source, finds cameras stalled (connected, no new frame
within the threshold), publishes each camera's status on ``vigie.camera-status.v1`` at every
change and as a heartbeat, raises a technical event (camera stalled, camera offline) on
``vigie.events.v1`` for alerting to route under its policy, moves the camera metrics, and keeps
readiness failing while a camera is stalled or offline (liveness stays up: a restart would not
bring a camera back). A stalled stream's blocked read ends at OpenCV's read timeout
(``stall.reconnect_after_s``), and the reader reconnects.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass

from vigie.v1 import frames_pb2
from vigie_capture.adapters.video_file import (
    SourceError,
    VideoOptions,
    encode_jpeg,
    is_stream,
    open_video,
    redact,
)
from vigie_capture.settings import CameraSource, CaptureSettings
from vigie_capture.watch import (
    Backoff,
    CameraState,
    CameraWatch,
    Transition,
    status_message,
    technical_event,
)
from vigie_runtime import codec, metrics, tracing
from vigie_runtime.app import ServiceFailed
from vigie_runtime.bus import Bus, Output, Publisher
from vigie_runtime.health import Health
from vigie_runtime.logs import for_camera
from vigie_runtime.stage import deliver
from vigie_runtime.topics import CAMERA_STATUS, EVENTS, FRAMES

log = logging.getLogger(__name__)


def frame_message(
    camera: CameraSource, session_id: str, sequence: int, captured_at: float, image: object
) -> frames_pb2.Frame:
    height, width = image.shape[:2]  # type: ignore[attr-defined]
    return frames_pb2.Frame(
        camera_id=camera.id,
        sequence=sequence,
        captured_at=codec.time_to_proto(captured_at),
        width=width,
        height=height,
        jpeg=encode_jpeg(image, camera.jpeg_quality),  # type: ignore[arg-type]
        replay=camera.replay,
        session_id=session_id,
    )


def known_length_s(frame_count: int | None, fps: float, options: VideoOptions) -> float:
    """Media seconds a replay will cover, as far as it can be known before reading it: the
    frames asked for, or the file's frames from the start position; 0 for a stream or an
    endless loop."""
    frames: float | None = options.max_frames
    if frames is None and frame_count is not None and not options.loop:
        frames = max(frame_count - options.start_s * fps, 0.0)
    return 0.0 if frames is None else frames / fps


MONITOR_TICK_S = 0.2  # how often the monitor looks at every camera


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """How one session of a camera ended: ``normal`` (a file ended as configured, or max_frames
    reached), ``stopped`` (capture is stopping), or neither: a failure, with its reason."""

    reason: str
    opened: bool = True
    frames: int = 0
    normal: bool = False
    stopped: bool = False


class CaptureService:
    def __init__(self, settings: CaptureSettings, bus: Bus, health: Health) -> None:
        self.settings = settings
        self.bus = bus
        self.health = health
        self.published: dict[str, int] = {}
        self.failed: dict[str, str] = {}
        self.frame_rate = metrics.FrameRate("capture")
        self.backoff = Backoff(
            settings.reconnect.initial_s, settings.reconnect.max_s, settings.reconnect.jitter
        )
        self.rng = random.Random()
        started = time.time()
        self.watches = {
            c.id: CameraWatch(c.id, settings.stall.intervals, settings.stall.min_s, started)
            for c in settings.cameras
        }
        self._transitions: list[Transition] = []
        self._transitions_lock = threading.Lock()
        self._reported: dict[str, float] = {}

    # -- the watch over all cameras --------------------------------------------------------

    def camera_states(self) -> dict[str, str]:
        """Camera id -> its state ("starting" before it opened or failed), for people and tests."""
        result = {}
        for camera_id, watch in self.watches.items():
            snapshot = watch.snapshot()
            result[camera_id] = str(snapshot.state) if snapshot.state else "starting"
        return result

    def _cameras_ready(self) -> bool:
        return all(w.snapshot().healthy for w in self.watches.values())

    def _record(self, transition: Transition | None) -> None:
        if transition is None:
            return
        with self._transitions_lock:
            self._transitions.append(transition)

    def _register(self) -> None:
        self.health.add_check("capture.cameras", self._cameras_ready)
        for camera_id, watch in self.watches.items():
            label = metrics.camera_label("capture", camera_id)
            # Readiness names the camera; its state is in the status topic, metrics and logs.
            self.health.add_check(
                f"capture.camera.{camera_id}", lambda w=watch: w.snapshot().healthy
            )
            if label != metrics.OTHER_CAMERA:
                metrics.CAMERA_LAST_FRAME_AGE.labels("capture", label).set_function(
                    lambda w=watch: w.snapshot().last_frame_age_s(time.time())
                )

    def _monitor(self, publisher: Publisher, stop: threading.Event, final: bool = False) -> None:
        """One turn of the monitor: stalls, transitions, heartbeats, metrics."""
        now = time.time()
        for watch in self.watches.values():
            self._record(watch.check(now))
        with self._transitions_lock:
            transitions, self._transitions = self._transitions, []
        rates = self.frame_rate.refresh()
        outputs: list[Output] = []
        due = {t.camera_id for t in transitions}
        for transition in transitions:
            self._log(transition)
            event = technical_event(transition)
            if event is not None:
                outputs.append(Output(EVENTS, event.camera_id, codec.encode(event)))
        for camera_id, watch in self.watches.items():
            snapshot = watch.snapshot()
            self._state_metric(camera_id, snapshot.state)
            last = self._reported.get(camera_id)
            heartbeat = last is None or now - last >= self.settings.status.heartbeat_s
            if snapshot.state is None or not (camera_id in due or heartbeat or final):
                continue
            status = status_message(snapshot, now, rates.get(camera_id, 0.0))
            outputs.append(Output(CAMERA_STATUS, camera_id, status.SerializeToString()))
            self._reported[camera_id] = now
        if outputs:
            deliver(publisher, outputs, stop, "capture", health=self.health)

    def _state_metric(self, camera_id: str, state: CameraState | None) -> None:
        label = metrics.camera_label("capture", camera_id)
        if label == metrics.OTHER_CAMERA:
            return
        for each in CameraState:
            metrics.CAMERA_STATUS.labels("capture", label, str(each)).set(
                1.0 if each is state else 0.0
            )

    def _log(self, transition: Transition) -> None:
        extra = {
            "camera": transition.camera_id,
            "state": str(transition.state),
            "previous": str(transition.previous) if transition.previous else "",
            "reason": transition.reason,
        }
        if transition.state is CameraState.ONLINE or not transition.alert:
            log.info("camera status", extra=extra)
        else:
            log.warning("camera status", extra=extra)

    # -- running -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Read every camera until each ended as configured or ``stop``; raises ServiceFailed
        (exit 1) when a camera was given up, so a stream failure never ends capture quietly."""
        if not self.settings.cameras:
            log.error("no cameras configured (cameras: [...] in the settings, or --source)")
            raise ServiceFailed("no cameras configured")
        publisher = self.bus.publisher("capture")
        status_publisher = self.bus.publisher("capture-status")
        self._register()
        threads = [
            threading.Thread(target=self._camera, args=(c, publisher, stop), name=f"cam-{c.id}")
            for c in self.settings.cameras
        ]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                self.health.beat()
                self._monitor(status_publisher, stop)
                for t in threads:
                    t.join(MONITOR_TICK_S / len(threads))
            for watch in self.watches.values():
                if stop.is_set() and not watch.snapshot().ended:
                    self._record(watch.ended(time.time(), "capture stopped"))
            self._monitor(status_publisher, stop, final=True)
        finally:
            publisher.close()
            status_publisher.close()
        log.info("capture finished", extra={"frames": self.published, "failed": self.failed})
        if self.failed:
            raise ServiceFailed(
                "cameras given up: " + "; ".join(f"{k}: {v}" for k, v in self.failed.items())
            )

    def _camera(self, camera: CameraSource, publisher: Publisher, stop: threading.Event) -> None:
        """Sessions one after another, with back-off between failures, until the source ends as
        configured, capture stops, or (a file or device) the attempts are used up."""
        watch = self.watches[camera.id]
        stream = is_stream(camera.source)
        limit = self.settings.reconnect.max_attempts_for_files
        failures = 0  # in a row, for the back-off; for files, in all
        with for_camera(camera.id):
            while not stop.is_set():
                try:
                    end = self._stream(camera, publisher, stop, watch)
                except SourceError as exc:
                    end = SessionEnd(str(exc), opened=False)
                except Exception as exc:  # an OpenCV or encoding error is a failed session too
                    log.exception("camera session failed")
                    end = SessionEnd(redact(f"{type(exc).__name__}: {exc}"))
                if end.stopped or stop.is_set():
                    return
                if end.normal:
                    self._record(watch.ended(time.time(), end.reason))
                    log.info("camera source ended", extra={"reason": end.reason})
                    return
                self._record(watch.lost(time.time(), end.reason, end.opened))
                if stream and end.frames > 0:
                    failures = 0  # it worked for a while: start the back-off over
                failures += 1
                if not stream and failures >= limit:
                    self.failed[camera.id] = end.reason
                    log.error(
                        "camera given up",
                        extra={"error": end.reason, "attempts": failures},
                    )
                    return
                delay = self.backoff.delay(failures - 1, self.rng)
                log.warning(
                    "camera source failed; reconnecting",
                    extra={"error": end.reason, "retry_in_s": round(delay, 3)},
                )
                if stop.wait(delay):
                    return

    def _stream(
        self,
        camera: CameraSource,
        publisher: Publisher,
        stop: threading.Event,
        watch: CameraWatch | None = None,
    ) -> SessionEnd:
        watch = watch or self.watches[camera.id]
        session_id = uuid.uuid4().hex
        realtime = self.settings.pacing == "realtime"
        pending: list[Output] = []
        sequence = 0
        options = VideoOptions(
            loop=camera.on_end == "loop", start_s=camera.start_s, max_frames=camera.max_frames
        )
        stall = self.settings.stall
        with open_video(
            camera.source,
            options,
            open_timeout_s=self.settings.reconnect.open_timeout_s,
            read_timeout_s=stall.reconnect_after_s,
        ) as video:
            log.info(
                "camera opened",
                extra={
                    "source": redact(camera.source),
                    "fps": video.fps,
                    "frames": video.frame_count,
                    "session": session_id,
                },
            )
            watch.opened(time.time(), session_id, video.fps)
            started = time.time()
            if not realtime:
                started -= known_length_s(video.frame_count, video.fps, options)
            first_media: float | None = None
            for raw in video:
                if stop.is_set():
                    break
                if first_media is None:
                    first_media = raw.media_time_s
                captured_at = started + (raw.media_time_s - first_media)
                if (delay := captured_at - time.time()) > 0:
                    if pending:  # what is ready goes out before the wait, not after it
                        if not deliver(publisher, pending, stop, "capture"):
                            return SessionEnd("capture stopped", frames=sequence, stopped=True)
                        self.published[camera.id] = sequence
                        pending = []
                    if stop.wait(delay):
                        break
                attributes = {"vigie.camera_id": camera.id, "vigie.frame_time": captured_at}
                with tracing.producing("capture frame", attributes):  # each frame's trace root
                    message = frame_message(camera, session_id, sequence, captured_at, raw.image)
                    output = Output(FRAMES, camera.id, message.SerializeToString())
                    pending.extend(tracing.stamp([output]))
                self._record(watch.frame(time.time(), sequence))
                sequence += 1
                self.frame_rate.tick(camera.id)
                if len(pending) >= self.settings.flush_every or realtime:
                    if not deliver(publisher, pending, stop, "capture"):
                        return SessionEnd("capture stopped", frames=sequence, stopped=True)
                    self.published[camera.id] = sequence
                    pending = []
            if pending and deliver(publisher, pending, stop, "capture"):
                self.published[camera.id] = sequence
            if video.decode_errors:
                log.warning("frames failed to decode", extra={"count": video.decode_errors})
            if stop.is_set():
                return SessionEnd("capture stopped", frames=sequence, stopped=True)
            shown = redact(camera.source)
            if video.stopped_on_errors:
                return SessionEnd(
                    f"video source {shown!r}: reads kept failing, or none gave a frame within "
                    f"{stall.reconnect_after_s} s",
                    frames=sequence,
                )
            if camera.max_frames is not None and sequence >= camera.max_frames:
                return SessionEnd("max_frames reached", frames=sequence, normal=True)
            if is_stream(camera.source):
                return SessionEnd(f"stream {shown!r} ended", frames=sequence)
            return SessionEnd(f"video source {shown!r} ended", frames=sequence, normal=True)


def build(settings: CaptureSettings, bus: Bus, health: Health) -> CaptureService:
    return CaptureService(settings, bus, health)
