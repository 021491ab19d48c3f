"""A message's time is data from its producer, not truth: bounded before a stage believes it.

Every stage measures time from the messages it reads (the frame's capture time, carried on by
every derived message), never from its own clock, so that a replay computes what the live run
computed. That makes one message's time powerful: a detection stamped in the year 2099 would
move its camera's tracker clock there and every later frame would look like a stale replay,
silencing the camera. So a stage checks each message's time against two clocks that the
producer does not control alone:

- its own clock: nothing may come from further ahead than the tolerated skew between hosts;
- the record's timestamp (when the producing client created it): the time it carries may be
  neither further ahead of it than that skew, nor further behind it than the longest backlog
  a stage is expected to catch up on.

A message outside the bounds is refused (:class:`TimeRefused`, dead-lettered with the reason
by the message contract). A message inside them can move a camera's clock by at most the skew.

Messages that are older than their camera's clock (a replay after a restart, or a producer
out of order) are skipped by the stage that keeps the clock: :class:`StaleDrops` counts them
per camera and says so at warning level, once per camera and then at most every
``every_s`` with the count since, so a replay of thousands is a few lines, never silence.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from vigie.v1 import cameras_pb2, frames_pb2
from vigie_core.types import (
    Alert,
    AuditRecord,
    Event,
    FrameDetections,
    FrameTracks,
    Verdict,
)
from vigie_runtime import codec, metrics
from vigie_runtime.settings import TimeBounds

log = logging.getLogger(__name__)

Clock = Callable[[], float]


def time_of(item: object) -> float | None:
    """The time a decoded message of any Vigie topic carries: a frame's capture time (carried
    on by detections, tracks and events), an alert's last sighting, a verdict's decision, a
    journal record's time, a camera status's report; None for anything that carries none. A
    stage that reads several topics may decode to ``(topic, item)``."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return time_of(item[1])
    if isinstance(item, frames_pb2.Frame):
        return codec.time_from_proto(item.captured_at)
    if isinstance(item, cameras_pb2.CameraStatus):
        return codec.time_from_proto(item.reported_at)
    if isinstance(item, FrameDetections | FrameTracks):
        return item.frame.captured_at
    if isinstance(item, Event):
        return item.occurred_at
    if isinstance(item, Alert):
        return item.last_seen
    if isinstance(item, Verdict):
        return item.decided_at
    if isinstance(item, AuditRecord):
        return item.at
    return None


class TimeRefused(ValueError):
    """The message's time is outside the bounds; the text says which and by how much."""


def _shown(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return repr(t)


class TimeGuard:
    """Checks message times (and restored state times) against :class:`TimeBounds`."""

    def __init__(self, bounds: TimeBounds | None = None, clock: Clock = time.time) -> None:
        self.bounds = bounds or TimeBounds()
        self.clock = clock

    def check(self, t: float, record_ms: int = 0) -> None:
        """Raise :class:`TimeRefused` when ``t`` (seconds since the epoch) is out of bounds.

        ``record_ms`` is the record's timestamp in ms; 0 means unknown, and then the time is
        bounded by this stage's clock alone, in both directions.
        """
        if not math.isfinite(t):
            raise TimeRefused(f"time {t!r} is not a finite number")
        future = self.bounds.max_future_s
        past = self.bounds.max_past_s
        now = self.clock()
        if t > now + future:
            raise TimeRefused(
                f"time {_shown(t)} is {t - now:.1f} s ahead of this stage's clock "
                f"(time.max_future_s: {future:g})"
            )
        if record_ms > 0:
            record = record_ms / 1000.0
            if t > record + future:
                raise TimeRefused(
                    f"time {_shown(t)} is {t - record:.1f} s ahead of its record's timestamp "
                    f"{_shown(record)} (time.max_future_s: {future:g})"
                )
            if t < record - past:
                raise TimeRefused(
                    f"time {_shown(t)} is {record - t:.0f} s behind its record's timestamp "
                    f"{_shown(record)} (time.max_past_s: {past:g})"
                )
        elif t < now - past:
            raise TimeRefused(
                f"time {_shown(t)} is {now - t:.0f} s behind this stage's clock "
                f"(time.max_past_s: {past:g})"
            )

    def check_restored(self, t: float, what: str = "last_time") -> None:
        """Refuse (``ValueError``) a stored state whose clock is from the future: resuming it
        would make every message of the camera stale until the real clock caught up."""
        now = self.clock()
        if not math.isfinite(t) or t > now + self.bounds.max_future_s:
            raise ValueError(
                f"{what} {_shown(t)} is ahead of this replica's clock {_shown(now)} by more "
                f"than time.max_future_s ({self.bounds.max_future_s:g} s)"
            )


class StaleDrops:
    """Counts and reports messages a stage skipped because their camera's clock is past them.

    Bounded: at most ``max_cameras`` cameras are remembered for throttling (the least recently
    reported goes first); forgetting one only means its next drop is reported at once.
    """

    def __init__(
        self,
        stage: str,
        every_s: float = 30.0,
        max_cameras: int = 1024,
        clock: Clock = time.monotonic,
    ) -> None:
        self.stage = stage
        self.every_s = every_s
        self.max_cameras = max_cameras
        self.clock = clock
        self._lock = threading.Lock()
        # camera -> (when last reported, drops since)
        self._pending: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def drop(self, camera: str, message_time: float, camera_time: float) -> None:
        metrics.STALE_DROPPED.labels(self.stage, metrics.camera_label(self.stage, camera)).inc()
        now = self.clock()
        with self._lock:
            reported, since = self._pending.pop(camera, (None, 0))
            since += 1
            if reported is not None and now - reported < self.every_s:
                self._pending[camera] = (reported, since)
                return
            self._pending[camera] = (now, 0)
            while len(self._pending) > self.max_cameras:
                self._pending.popitem(last=False)
        log.warning(
            "messages older than their camera's clock skipped (a replay after a restart, or a "
            "producer out of order)",
            extra={
                "stage": self.stage,
                "camera": camera,
                "skipped": since,
                "message_time": message_time,
                "camera_time": camera_time,
                "behind_s": round(camera_time - message_time, 3),
            },
        )
