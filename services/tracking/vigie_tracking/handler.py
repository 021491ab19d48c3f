"""Detections in, tracks out: one tracker object per camera, ids namespaced by camera.

Input order per camera is guaranteed by the partitioning, but a restart replays what was not
yet committed: frames at or before the camera's last processed time are skipped (counted, and
reported at warning level) rather than fed to the tracker twice. That clock cannot be pushed
far ahead by one message: the stage refuses times beyond ``time.max_future_s``
(:mod:`vigie_runtime.timebounds`), and a stored tracker whose clock is from the future is
discarded on restore, loudly, rather than resumed.

The handler is the stage's per-camera state (:class:`vigie_runtime.state.CameraState`): the
runtime saves the tracker of every camera a batch touched, with the batch, on the compacted
state topic, reads the trackers of a replica's cameras back when their partitions are assigned
(the same ids go on), and drops them when their partitions are revoked. Snapshots are the
tracker's own versioned documents, so those written by earlier releases still load.

Each camera's tracker gets the zones of its scene, if one is configured, so that every track's
summary says how long it spent in each zone; the zones are configuration, not state, and are
handed to resumed trackers as to new ones.

Camera ids come from the input, so the trackers are bounded: a replica keeps at most
``max_cameras``; a new camera beyond them is refused (dead-lettered with the reason), never
silently dropped, and its partitions' cameras are released on revoke as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from vigie_core.scene import SceneSpec, ZoneSpec
from vigie_core.tracking import CameraTracker, TrackerParams
from vigie_core.types import FrameDetections
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.stage import Reject
from vigie_runtime.timebounds import StaleDrops, TimeGuard
from vigie_runtime.topics import TRACKS

log = logging.getLogger(__name__)


class TrackingHandler:
    def __init__(
        self,
        params: TrackerParams,
        scenes: Mapping[str, SceneSpec] | None = None,
        guard: TimeGuard | None = None,
        max_cameras: int = 1000,
    ) -> None:
        self.params = params
        self.max_cameras = max_cameras
        self.scenes: Mapping[str, SceneSpec] = scenes or {}
        self.trackers: dict[str, CameraTracker] = {}
        self.guard = guard or TimeGuard()
        self.stale = StaleDrops("tracking")

    def _zones(self, camera: str) -> tuple[ZoneSpec, ...]:
        scene = self.scenes.get(camera)
        return scene.zones if scene is not None else ()

    def decode(self, message: Message) -> FrameDetections:
        return codec.decode_detections(message.value, key=message.key)

    # -- per-camera state ------------------------------------------------------------------------

    def save(self, camera: str) -> dict[str, Any] | None:
        tracker = self.trackers.get(camera)
        return tracker.snapshot() if tracker is not None else None

    def load(self, camera: str, document: Mapping[str, Any]) -> None:
        """Resume ``camera`` from its stored tracker; ``ValueError`` if the document is unusable."""
        stored = CameraTracker.restore(document, self.params, self._zones(camera))
        if stored.camera_id != camera:
            raise ValueError(f"state of camera {stored.camera_id!r} stored under {camera!r}")
        if stored.last_time is not None:
            self.guard.check_restored(stored.last_time)
        self.trackers[camera] = stored
        log.info(
            "tracker resumed from stored state",
            extra={"camera": camera, "state_time": stored.last_time},
        )

    def drop(self, camera: str) -> None:
        self.trackers.pop(camera, None)

    # -- frames -----------------------------------------------------------------------------------

    def _tracker_for(self, camera: str) -> CameraTracker:
        tracker = self.trackers.get(camera)
        if tracker is None:
            if len(self.trackers) >= self.max_cameras:
                raise Reject(
                    f"this replica already tracks its maximum of {self.max_cameras} cameras "
                    "(max_cameras): scale tracking out or raise the setting"
                )
            tracker = self.trackers[camera] = CameraTracker(
                camera, self.params, self._zones(camera)
            )
        return tracker

    def handle(self, frame: FrameDetections, message: Message) -> Sequence[Output]:
        camera = frame.frame.camera_id
        tracker = self._tracker_for(camera)
        last = tracker.last_time
        if last is not None and frame.frame.captured_at <= last:
            self.stale.drop(camera, frame.frame.captured_at, last)
            return []
        tracks = tracker.update(frame)
        return [Output(TRACKS, camera, codec.encode(codec.tracks_to_proto(tracks)))]
