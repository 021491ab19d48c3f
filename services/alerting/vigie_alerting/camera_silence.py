"""A camera whose capture falls silent is an alert, even when capture cannot say so itself.

Capture raises its own technical events when a camera stalls or goes offline, and publishes each
camera's status at every change and as a heartbeat. What it cannot report is its own death (a
killed process, a node lost, a network cut between it and the brokers). This stage follows the
heartbeats on ``vigie.camera-status.v1`` and, when a camera that was last said to be online or
stalled sends nothing for ``camera_silence_s``, raises a ``camera_offline`` event on
``vigie.events.v1``, which the alerting stage routes under its policy like any other. A camera
capture reported offline (a file that ended, a capture stopped on purpose, or an outage capture
already alerted on) is not watched for silence.

The clock here is this replica's own: silence is the absence of messages, so no message time
can measure it. Each replica watches the cameras of the status partitions it is assigned
(a rebalance moves the watch with them), and the event's id is a function of the camera and of
the last status heard, so two replicas that both saw the same silence raise one alert.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vigie.v1 import cameras_pb2
from vigie_core.analytics.explain import fmt, make_event
from vigie_core.types import EventKind, FrameRef
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import CAMERA_STATUS, EVENTS

log = logging.getLogger(__name__)

MAX_CAMERAS = 100_000  # cameras followed per replica; beyond, the least recently heard go


@dataclass(slots=True)
class _Heard:
    partition: int
    heard_at: float  # this replica's clock when the last status came
    reported_at: float  # the time the status carried
    state: int
    alarmed: bool = False


class CameraSilence:
    """Follows camera statuses; ``check`` gives the events of cameras gone silent."""

    def __init__(
        self,
        silence_s: float,
        clock: Callable[[], float] = time.time,
        max_cameras: int = MAX_CAMERAS,
    ) -> None:
        self.silence_s = silence_s
        self.clock = clock
        self.max_cameras = max_cameras
        self._lock = threading.Lock()
        self._cameras: OrderedDict[str, _Heard] = OrderedDict()

    # -- the stage ------------------------------------------------------------------------------

    def decode(self, message: Message) -> cameras_pb2.CameraStatus:
        return codec.decode_camera_status(message.value, key=message.key)

    def handle(self, status: cameras_pb2.CameraStatus, message: Message) -> Sequence[Output]:
        heard = _Heard(
            message.partition,
            self.clock(),
            codec.time_from_proto(status.reported_at),
            status.state,
        )
        with self._lock:
            self._cameras.pop(status.camera_id, None)
            self._cameras[status.camera_id] = heard
            while len(self._cameras) > self.max_cameras:
                self._cameras.popitem(last=False)
        return self.check()

    def check(self) -> list[Output]:
        """The events of cameras silent for longer than ``silence_s``, once per silence."""
        now = self.clock()
        outputs = []
        with self._lock:
            for camera_id, heard in self._cameras.items():
                if heard.alarmed or heard.state == cameras_pb2.CAMERA_STATE_OFFLINE:
                    continue
                quiet = now - heard.heard_at
                if quiet < self.silence_s:
                    continue
                heard.alarmed = True
                outputs.append(self._event(camera_id, heard, quiet))
        return outputs

    def _event(self, camera_id: str, heard: _Heard, quiet: float) -> Output:
        reason = (
            f"no status from capture for {fmt(quiet)} s (threshold {fmt(self.silence_s)} s): "
            "capture stopped, crashed or cannot reach the brokers"
        )
        log.warning("camera silent", extra={"camera": camera_id, "silent_s": round(quiet, 1)})
        event = make_event(
            EventKind.CAMERA_OFFLINE,
            # Time: the last status heard plus the threshold, so every replica that saw the
            # same silence gives the same event (and the alert merges, never doubles).
            FrameRef(camera_id, 0, heard.reported_at + self.silence_s),
            "",
            details={
                "status": "silent",
                "reason": reason,
                "last_status_age_s": fmt(quiet),
                "threshold_s": fmt(self.silence_s),
            },
        )
        return Output(EVENTS, camera_id, codec.encode(event))

    # -- rebalance: watch the cameras of the partitions this replica reads ----------------------

    def assigned(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Nothing to restore: a camera is watched from its next status on."""

    def revoked(self, partitions: Iterable[tuple[str, int]]) -> None:
        gone = {p for topic, p in partitions if topic == CAMERA_STATUS}
        with self._lock:
            for camera_id in [c for c, h in self._cameras.items() if h.partition in gone]:
                del self._cameras[camera_id]

    def watched(self) -> int:
        with self._lock:
            return len(self._cameras)
