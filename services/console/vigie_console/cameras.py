"""What the console knows of each camera: the newest status capture published for it.

Fed by the console's own read of the compacted ``vigie.camera-status.v1`` (every replica reads
all of it), so the cameras page never asks capture directly. Bounded by ``max_cameras``: a flood
of invented ids pushes out the least recently heard, never grows the map.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from vigie.v1 import cameras_pb2
from vigie_runtime import codec

STATES = {
    cameras_pb2.CAMERA_STATE_ONLINE: "online",
    cameras_pb2.CAMERA_STATE_STALLED: "stalled",
    cameras_pb2.CAMERA_STATE_OFFLINE: "offline",
}


@dataclass(frozen=True, slots=True)
class CameraView:
    camera_id: str
    state: str  # online, stalled, offline, unknown (no status, or too old to trust)
    since: float | None
    reported_at: float | None
    last_frame_age_s: float | None
    frames_per_second: float
    reason: str


class CameraBoard:
    def __init__(
        self, max_cameras: int, stale_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_cameras, self.stale_s, self.clock = max_cameras, stale_s, clock
        self._latest: OrderedDict[str, cameras_pb2.CameraStatus] = OrderedDict()
        self._lock = threading.Lock()

    def update(self, status: cameras_pb2.CameraStatus) -> None:
        """Keep ``status`` unless an older report than the one held (a re-read, a replay)."""
        with self._lock:
            held = self._latest.get(status.camera_id)
            if held is not None and codec.time_from_proto(held.reported_at) > codec.time_from_proto(
                status.reported_at
            ):
                return
            self._latest[status.camera_id] = status
            self._latest.move_to_end(status.camera_id)
            while len(self._latest) > self.max_cameras:
                self._latest.popitem(last=False)

    def view(self, camera_id: str) -> CameraView:
        with self._lock:
            status = self._latest.get(camera_id)
        if status is None:
            return CameraView(camera_id, "unknown", None, None, None, 0.0, "")
        now = self.clock()
        reported_at = codec.time_from_proto(status.reported_at)
        state = STATES.get(status.state, "unknown")
        reason = status.reason
        if now - reported_at > self.stale_s:
            state, reason = "unknown", f"no status for {now - reported_at:.0f} s"
        last_frame = (
            now - codec.time_from_proto(status.last_frame_at)
            if status.HasField("last_frame_at")
            else None
        )
        return CameraView(
            camera_id,
            state,
            codec.time_from_proto(status.since),
            reported_at,
            last_frame,
            status.frames_per_second,
            reason,
        )

    def camera_ids(self) -> list[str]:
        with self._lock:
            return list(self._latest)
