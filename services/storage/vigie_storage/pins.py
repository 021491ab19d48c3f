"""Frames pinned for the alerts they may become: the snapshot buffer's answer to a late alert.

The snapshot buffer keeps a camera's frames until its tracks are ``buffer_s`` past them, which
bounds its memory in camera time. An alert, though, comes after analytics and alerting: when
alerting is behind (a replica restarting and recovering its table, a backlog after an outage, a
fast replay where 30 s of camera time pass in three), the tracks run ahead and the frame the
alert needs has left the buffer before the alert arrives. The alert would then get no snapshot.

Every alert starts as an event, and the event names its frame. So the stage reads the events
too and pins each event's frame until the alert comes for it, ``pin_s`` of wall-clock time at
most: an event that never becomes an alert (suppressed, merged, below its policy) lets its pin
expire. At most ``max_pinned`` frames and ``max_bytes`` of their JPEG are pinned; beyond
either the oldest pin goes (counted), so memory is bounded whatever the events and frames say.
A pin holds a reference to the buffered frame, so a frame still in the buffer costs nothing
twice (the byte bound counts it anyway: it holds when the buffer lets the frame go); its
tracks, read later, reach it through the pin.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from prometheus_client import Counter, Gauge

from vigie_core.types import FrameRef
from vigie_storage.frame_time import same_capture

log = logging.getLogger(__name__)

PINNED = Gauge(
    "vigie_snapshot_pinned_frames", "Frames pinned for the alerts their events may become"
)
PINS = Counter(
    "vigie_snapshot_pins_total",
    "Pins of event frames by how they ended: used by an alert, expired, evicted over a bound,"
    " replaced (the camera's sequence started again)",
    ["outcome"],
)


class PinnableFrame(Protocol):
    sequence: int
    captured_at: float
    jpeg: bytes


FrameT = TypeVar("FrameT", bound=PinnableFrame)


@dataclass(slots=True)
class _Pin(Generic[FrameT]):
    ref: FrameRef
    until: float  # wall clock: the pin expires then
    frame: FrameT | None = None  # None until the frame itself is read


def _key(ref: FrameRef) -> tuple[str, int]:
    return (ref.camera_id, ref.sequence)


def _same(ref: FrameRef, frame: PinnableFrame) -> bool:
    return frame.sequence == ref.sequence and same_capture(frame.captured_at, ref.captured_at)


class FramePins(Generic[FrameT]):
    """Event frames pinned by (camera, sequence, capture time), oldest first, bounded."""

    def __init__(self, pin_s: float, max_pinned: int, max_bytes: int) -> None:
        self.pin_s = pin_s
        self.max_pinned = max_pinned
        self.max_bytes = max_bytes
        self._pins: OrderedDict[tuple[str, int], _Pin[FrameT]] = OrderedDict()
        self._bytes = 0  # JPEG bytes of the frames pinned

    def __len__(self) -> int:
        return len(self._pins)

    @property
    def bytes(self) -> int:
        return self._bytes

    def _drop(self, key: tuple[str, int], outcome: str) -> _Pin[FrameT]:
        pin = self._pins.pop(key)
        if pin.frame is not None:
            self._bytes -= len(pin.frame.jpeg)
        PINS.labels(outcome).inc()
        return pin

    def _keep_bounds(self) -> None:
        while self._pins and (len(self._pins) > self.max_pinned or self._bytes > self.max_bytes):
            oldest = self._drop(next(iter(self._pins)), "evicted")
            log.warning(
                "too many event frames pinned: the oldest pin goes, its alert may get no snapshot",
                extra={
                    "camera": oldest.ref.camera_id,
                    "max_pinned": self.max_pinned,
                    "max_bytes": self.max_bytes,
                },
            )
        PINNED.set(len(self._pins))

    def pin(self, ref: FrameRef, frame: FrameT | None, now: float) -> None:
        """Pin the frame an event names; ``frame`` is the buffered one, or None when the frame
        has not been read yet (it is attached by :meth:`offer` when it comes)."""
        if self.max_pinned == 0:
            return
        key = _key(ref)
        existing = self._pins.get(key)
        if existing is not None and same_capture(existing.ref.captured_at, ref.captured_at):
            return  # a second event on the same frame (or the same event read again)
        if existing is not None:
            self._drop(key, "replaced")  # the camera's sequence started again
        self._pins[key] = _Pin(ref, now + self.pin_s, frame)
        if frame is not None:
            self._bytes += len(frame.jpeg)
        self._keep_bounds()

    def offer(self, camera_id: str, frame: FrameT) -> None:
        """A frame was read: a pin waiting for it takes it."""
        pin = self._pins.get((camera_id, frame.sequence))
        if pin is not None and pin.frame is None and _same(pin.ref, frame):
            pin.frame = frame
            self._bytes += len(frame.jpeg)
            self._keep_bounds()

    def find(self, ref: FrameRef) -> FrameT | None:
        pin = self._pins.get(_key(ref))
        if pin is None or pin.frame is None or not _same(ref, pin.frame):
            return None
        return pin.frame

    def state(self, ref: FrameRef) -> str:
        """How the frame stands here, for a log line: ``none``, ``waiting`` (pinned, its frame
        not read since) or ``held``."""
        pin = self._pins.get(_key(ref))
        if pin is None or not same_capture(pin.ref.captured_at, ref.captured_at):
            return "none"
        return "waiting" if pin.frame is None else "held"

    def release(self, ref: FrameRef) -> None:
        """The alert of this frame has its snapshot: the pin has done its work."""
        pin = self._pins.get(_key(ref))
        if pin is not None and same_capture(pin.ref.captured_at, ref.captured_at):
            self._drop(_key(ref), "used")
            PINNED.set(len(self._pins))

    def expire(self, now: float) -> None:
        """Drop the pins older than ``pin_s``: their events did not become alerts in time."""
        while self._pins:
            key, pin = next(iter(self._pins.items()))
            if pin.until > now:
                break
            self._drop(key, "expired")
        PINNED.set(len(self._pins))
