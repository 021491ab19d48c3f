"""Detections in, tracks out: one tracker object per camera, ids namespaced by camera.

Input order per camera is guaranteed by the partitioning, but a restart replays what was not
yet committed: frames at or before the camera's last processed time are skipped (and counted)
rather than fed to the tracker twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from vigie_core.tracking import CameraTracker, TrackerParams
from vigie_core.types import FrameDetections
from vigie_runtime import codec, metrics
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import TRACKS

log = logging.getLogger(__name__)


class TrackingHandler:
    def __init__(self, params: TrackerParams) -> None:
        self.params = params
        self.trackers: dict[str, CameraTracker] = {}

    def decode(self, message: Message) -> FrameDetections:
        return codec.decode_detections(message.value)

    def handle(self, frame: FrameDetections, message: Message) -> Sequence[Output]:
        camera = frame.frame.camera_id
        tracker = self.trackers.get(camera)
        if tracker is None:
            tracker = self.trackers[camera] = CameraTracker(camera, self.params)
        last = tracker.last_time
        if last is not None and frame.frame.captured_at <= last:
            metrics.STALE_DROPPED.labels("tracking", camera).inc()
            log.debug("skipped replayed frame", extra={"sequence": frame.frame.sequence})
            return []
        tracks = tracker.update(frame)
        return [Output(TRACKS, camera, codec.encode(codec.tracks_to_proto(tracks)))]
