"""The capture service: read cameras, publish JPEG frames keyed by camera id.

Capture times are media times anchored to the session start, so a file replayed as fast as
possible and the same file paced in real time carry the same time axis: trackers and dwell
rules behave identically, only the wall-clock latency differs.

A capture time is never ahead of the wall clock, because every later stage refuses a message
from the future (:mod:`vigie_runtime.timebounds`). Real-time pacing waits for each frame's time;
a fast replay anchors the session so that its known length ends now (all of it in the recent
past), and beyond a length it cannot know (an endless loop) it waits like real-time pacing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from vigie.v1 import frames_pb2
from vigie_capture.adapters.video_file import (
    SourceError,
    VideoOptions,
    encode_jpeg,
    open_video,
    redact,
)
from vigie_capture.settings import CameraSource, CaptureSettings
from vigie_runtime import codec, metrics
from vigie_runtime.bus import Bus, Output, Publisher
from vigie_runtime.health import Health
from vigie_runtime.logs import for_camera
from vigie_runtime.stage import deliver
from vigie_runtime.topics import FRAMES

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


class CaptureService:
    def __init__(self, settings: CaptureSettings, bus: Bus, health: Health) -> None:
        self.settings = settings
        self.bus = bus
        self.health = health
        self.published: dict[str, int] = {}
        self.failed: dict[str, str] = {}
        self.frame_rate = metrics.FrameRate("capture")

    def run(self, stop: threading.Event) -> None:
        if not self.settings.cameras:
            log.error("no cameras configured (cameras: [...] in the settings, or --source)")
            return
        publisher = self.bus.publisher("capture")
        self.health.add_check(
            "capture.cameras", lambda: len(self.failed) < len(self.settings.cameras)
        )
        threads = [
            threading.Thread(target=self._camera, args=(c, publisher, stop), name=f"cam-{c.id}")
            for c in self.settings.cameras
        ]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            self.health.beat()
            for t in threads:
                t.join(0.5)
        publisher.close()
        log.info("capture finished", extra={"frames": self.published, "failed": self.failed})

    def _camera(self, camera: CameraSource, publisher: Publisher, stop: threading.Event) -> None:
        with for_camera(camera.id):
            try:
                self._stream(camera, publisher, stop)
            except SourceError as exc:
                self.failed[camera.id] = str(exc)
                log.error("camera source failed", extra={"error": str(exc)})

    def _stream(self, camera: CameraSource, publisher: Publisher, stop: threading.Event) -> None:
        session_id = uuid.uuid4().hex
        realtime = self.settings.pacing == "realtime"
        pending: list[Output] = []
        sequence = 0
        options = VideoOptions(
            loop=camera.on_end == "loop", start_s=camera.start_s, max_frames=camera.max_frames
        )
        with open_video(camera.source, options) as video:
            log.info(
                "camera opened",
                extra={
                    "source": redact(camera.source),
                    "fps": video.fps,
                    "frames": video.frame_count,
                },
            )
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
                            return
                        self.published[camera.id] = sequence
                        pending = []
                    if stop.wait(delay):
                        break
                message = frame_message(camera, session_id, sequence, captured_at, raw.image)
                pending.append(Output(FRAMES, camera.id, message.SerializeToString()))
                sequence += 1
                self.frame_rate.tick(camera.id)
                if len(pending) >= self.settings.flush_every or realtime:
                    if not deliver(publisher, pending, stop, "capture"):
                        return
                    self.published[camera.id] = sequence
                    pending = []
            if pending and deliver(publisher, pending, stop, "capture"):
                self.published[camera.id] = sequence
            if video.decode_errors:
                log.warning("frames failed to decode", extra={"count": video.decode_errors})


def build(settings: CaptureSettings, bus: Bus, health: Health) -> CaptureService:
    return CaptureService(settings, bus, health)
