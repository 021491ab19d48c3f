"""Detections in, tracks out: one tracker object per camera, ids namespaced by camera.

Input order per camera is guaranteed by the partitioning, but a restart replays what was not
yet committed: frames at or before the camera's last processed time are skipped (and counted)
rather than fed to the tracker twice.

Tracker state survives restarts and rebalancing: after every batch the state of each camera
the batch touched is published (keyed by camera) on the compacted state topic, in the same
delivery as the batch's tracks and before its offsets are committed. A camera this replica
has no tracker for, or has not seen for longer than the lost buffer (its partition may have
been elsewhere meanwhile), is resumed from the newest state on that topic: the same ids go on.

Each camera's tracker gets the zones of its scene, if one is configured, so that every track's
summary says how long it spent in each zone; the zones are configuration, not state, and are
handed to resumed trackers as to new ones.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vigie_core.scene import SceneSpec, ZoneSpec
from vigie_core.tracking import CameraTracker, TrackerParams
from vigie_core.types import FrameDetections
from vigie_runtime import codec, metrics
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import TRACKER_STATE, TRACKS

log = logging.getLogger(__name__)

StateReader = Callable[[], Mapping[str, Mapping[str, Any]]]


def latest_states(messages: Sequence[Message]) -> dict[str, Mapping[str, Any]]:
    """Newest readable state per camera from the state topic (later offsets win)."""
    states: dict[str, Mapping[str, Any]] = {}
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        camera = message.camera_id
        if not camera:
            continue
        try:
            state = json.loads(message.value)
        except ValueError:
            log.warning("unreadable tracker state skipped", extra={"offset": message.offset})
            continue
        if isinstance(state, dict):
            states[camera] = state
    return states


class TrackingHandler:
    def __init__(
        self,
        params: TrackerParams,
        read_states: StateReader | None = None,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        reread_after_s: float = 0.5,
        scenes: Mapping[str, SceneSpec] | None = None,
    ) -> None:
        self.params = params
        self.scenes: Mapping[str, SceneSpec] = scenes or {}
        self.trackers: dict[str, CameraTracker] = {}
        self.read_states = read_states
        self.refresh_s = refresh_s
        # A camera with nothing newer in the cache triggers a new reading, unless the cache is
        # younger than this: the burst of cameras met at start-up shares one reading.
        self.reread_after_s = reread_after_s
        self.clock = clock
        self._states: Mapping[str, Mapping[str, Any]] = {}
        self._states_read_at: float | None = None
        self._touched: set[str] = set()

    def _zones(self, camera: str) -> tuple[ZoneSpec, ...]:
        scene = self.scenes.get(camera)
        return scene.zones if scene is not None else ()

    def decode(self, message: Message) -> FrameDetections:
        return codec.decode_detections(message.value)

    def _read_states(self) -> None:
        if self.read_states is not None:
            self._states = self.read_states()
            self._states_read_at = self.clock()

    def _refresh_if_stale(self) -> bool:
        """Read the state topic if the cached reading is too old; True if it was read."""
        last = self._states_read_at
        if self.read_states is None or (last is not None and self.clock() - last <= self.refresh_s):
            return False
        self._read_states()
        return True

    def _resume(self, camera: str, current: CameraTracker | None) -> CameraTracker | None:
        """The stored tracker for ``camera`` if it is newer than ``current``.

        The cached reading serves the burst of cameras a replica meets at start-up; when it has
        nothing newer, the topic is read again, since another replica may have written since.
        """
        if self.read_states is None:
            return None
        refreshed = self._refresh_if_stale()
        stored = self._usable(camera, self._states.get(camera), current)
        read_at = self._states_read_at or 0.0
        if stored is None and not refreshed and self.clock() - read_at > self.reread_after_s:
            self._read_states()
            stored = self._usable(camera, self._states.get(camera), current)
        if stored is not None:
            log.info("tracker resumed from stored state", extra={"state_time": stored.last_time})
        return stored

    def _usable(
        self, camera: str, state: Mapping[str, Any] | None, current: CameraTracker | None
    ) -> CameraTracker | None:
        if state is None:
            return None
        try:
            stored = CameraTracker.restore(state, self.params, self._zones(camera))
            if stored.camera_id != camera:
                raise ValueError(f"state of camera {stored.camera_id!r} stored under {camera!r}")
        except ValueError as exc:
            metrics.ERRORS.labels("tracking", "state").inc()
            log.warning("tracker state unusable; starting afresh", extra={"error": str(exc)})
            return None
        ours = current.last_time if current is not None else None
        if stored.last_time is None or (ours is not None and stored.last_time <= ours):
            return None
        return stored

    def _tracker_for(self, frame: FrameDetections) -> CameraTracker:
        camera = frame.frame.camera_id
        tracker = self.trackers.get(camera)
        last = tracker.last_time if tracker is not None else None
        gap = last is None or frame.frame.captured_at - last > self.params.lost_buffer_s
        if gap:
            tracker = self._resume(camera, tracker) or tracker
        if tracker is None:
            tracker = CameraTracker(camera, self.params, self._zones(camera))
        self.trackers[camera] = tracker
        return tracker

    def handle(self, frame: FrameDetections, message: Message) -> Sequence[Output]:
        camera = frame.frame.camera_id
        tracker = self._tracker_for(frame)
        last = tracker.last_time
        if last is not None and frame.frame.captured_at <= last:
            metrics.STALE_DROPPED.labels("tracking", camera).inc()
            log.debug("skipped replayed frame", extra={"sequence": frame.frame.sequence})
            return []
        tracks = tracker.update(frame)
        self._touched.add(camera)
        return [Output(TRACKS, camera, codec.encode(codec.tracks_to_proto(tracks)))]

    def snapshots(self) -> list[Output]:
        """The state of every camera touched since the last call, for the state topic."""
        outputs = [
            Output(TRACKER_STATE, camera, json.dumps(self.trackers[camera].snapshot()).encode())
            for camera in sorted(self._touched)
        ]
        self._touched.clear()
        return outputs
