"""Camera watch: is each camera delivering frames, and what to say when it is not.

Plain logic over times passed in (no clock, no thread, no I/O), so tests drive it with an
injected clock and the service drives it with the wall clock:

* :class:`Backoff`, the waits between reconnection attempts;
* :class:`CameraWatch`, one camera's state machine: ONLINE while frames arrive, STALLED when a
  connected source gives no new frame within its threshold, OFFLINE when it cannot be opened or
  is disconnected (and, without an alert, when a file ended as configured);
* :func:`status_message` and :func:`technical_event`, what a transition publishes: the camera's
  status, and for STALLED and OFFLINE a technical event that alerting routes under its policy.

The reader thread of a camera reports what it sees (opened, frame, lost, ended); a monitor
thread, which never blocks on a source, asks :meth:`CameraWatch.check` whether the camera stalled.
Both may call at once: a watch locks itself.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from enum import StrEnum

from vigie.v1 import cameras_pb2
from vigie_core.analytics.explain import fmt, make_event
from vigie_core.types import Event, EventKind, FrameRef
from vigie_runtime import codec


class CameraState(StrEnum):
    ONLINE = "online"
    STALLED = "stalled"
    OFFLINE = "offline"


_WIRE_STATE = {
    CameraState.ONLINE: cameras_pb2.CAMERA_STATE_ONLINE,
    CameraState.STALLED: cameras_pb2.CAMERA_STATE_STALLED,
    CameraState.OFFLINE: cameras_pb2.CAMERA_STATE_OFFLINE,
}
_ALERT_KIND = {
    CameraState.STALLED: EventKind.CAMERA_STALLED,
    CameraState.OFFLINE: EventKind.CAMERA_OFFLINE,
}


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits before reconnection attempts: ``initial_s`` doubling up to ``max_s``; jitter takes
    up to that fraction off each wait (never adds to it), so the cap is a true cap."""

    initial_s: float = 1.0
    max_s: float = 30.0
    jitter: float = 0.2

    def base(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (0 for the first), without jitter."""
        exponent = min(max(attempt, 0), 64)  # 2**64 s is far past any cap
        return min(self.max_s, self.initial_s * math.pow(2.0, exponent))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        base = self.base(attempt)
        draw = (rng or random).random()
        return base * (1.0 - self.jitter * draw)


def stall_threshold(fps: float | None, intervals: float, min_s: float) -> float:
    """Seconds without a new frame that make a connected camera stalled: ``intervals`` frame
    intervals, at least ``min_s`` (which alone applies while the frame rate is unknown)."""
    if fps is None or not math.isfinite(fps) or fps <= 0:
        return min_s
    return max(intervals / fps, min_s)


@dataclass(frozen=True, slots=True)
class Transition:
    """A camera entered ``state`` at ``at``; ``alert`` says whether it raises a technical event
    (a file that ended as configured goes offline without one)."""

    camera_id: str
    previous: CameraState | None
    state: CameraState
    at: float
    reason: str
    last_frame_at: float | None
    threshold_s: float
    sequence: int
    alert: bool = True

    def last_frame_age_s(self) -> float | None:
        return None if self.last_frame_at is None else max(self.at - self.last_frame_at, 0.0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a watch knows at one moment (for heartbeats, metrics and health)."""

    camera_id: str
    state: CameraState | None  # None: not opened nor failed yet
    since: float
    reason: str
    last_frame_at: float | None
    session_id: str
    connected: bool
    ended: bool
    threshold_s: float

    def last_frame_age_s(self, now: float) -> float:
        """Seconds since the last frame, or since the watch began before any frame."""
        return max(now - (self.since if self.last_frame_at is None else self.last_frame_at), 0.0)

    @property
    def healthy(self) -> bool:
        """Not stalled or offline; a camera whose file ended as configured is not a failure."""
        return self.ended or self.state not in (CameraState.STALLED, CameraState.OFFLINE)


class CameraWatch:
    """One camera's state, moved by its reader (``opened``, ``frame``, ``lost``, ``ended``) and
    by the monitor (``check``); each call returns the transition it caused, if any."""

    def __init__(self, camera_id: str, intervals: float, min_s: float, started_at: float) -> None:
        self.camera_id = camera_id
        self.intervals = intervals
        self.min_s = min_s
        self._lock = threading.Lock()
        self._state: CameraState | None = None
        self._since = started_at
        self._reason = "starting"
        self._last_frame_at: float | None = None
        self._sequence = 0
        self._session_id = ""
        self._connected = False
        self._connected_at = started_at
        self._ended = False
        self._threshold_s = stall_threshold(None, intervals, min_s)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                self.camera_id,
                self._state,
                self._since,
                self._reason,
                self._last_frame_at,
                self._session_id,
                self._connected,
                self._ended,
                self._threshold_s,
            )

    def opened(self, now: float, session_id: str, fps: float | None) -> None:
        """A new session: the stall clock starts now; the camera is online at its first frame."""
        with self._lock:
            self._connected = True
            self._connected_at = now
            self._session_id = session_id
            self._threshold_s = stall_threshold(fps, self.intervals, self.min_s)

    def frame(self, now: float, sequence: int) -> Transition | None:
        with self._lock:
            self._last_frame_at = now
            self._sequence = sequence
            return self._move(CameraState.ONLINE, now, "frames arrive")

    def lost(self, now: float, reason: str, opened: bool) -> Transition | None:
        """The source failed to open (``opened`` False) or stopped giving frames. A stalled
        camera being reconnected stays stalled until its reopening fails or frames return."""
        with self._lock:
            self._connected = False
            if opened and self._state is CameraState.STALLED:
                self._reason = reason
                return None
            return self._move(CameraState.OFFLINE, now, reason)

    def ended(self, now: float, reason: str) -> Transition | None:
        """The source ended as configured (a file with ``on_end: stop``): offline, no alert."""
        with self._lock:
            self._connected = False
            self._ended = True
            return self._move(CameraState.OFFLINE, now, reason, alert=False)

    def check(self, now: float) -> Transition | None:
        """The monitor's question: has a connected camera gone without a frame too long?"""
        with self._lock:
            if not self._connected or self._state is CameraState.STALLED:
                return None
            reference = self._connected_at
            if self._last_frame_at is not None and self._last_frame_at > reference:
                reference = self._last_frame_at
            quiet = now - reference
            if quiet < self._threshold_s:
                return None
            what = "since the last frame" if self._last_frame_at else "since the source opened"
            threshold = fmt(self._threshold_s)
            reason = f"no new frame for {fmt(quiet)} s {what} (threshold {threshold} s)"
            return self._move(CameraState.STALLED, now, reason)

    def _move(
        self, state: CameraState, now: float, reason: str, alert: bool = True
    ) -> Transition | None:
        if state is self._state:
            if state is not CameraState.ONLINE:
                self._reason = reason  # the latest word on why, for heartbeats
            return None
        previous = self._state
        self._state = state
        self._since = now
        self._reason = reason
        return Transition(
            self.camera_id,
            previous,
            state,
            now,
            reason,
            self._last_frame_at,
            self._threshold_s,
            self._sequence,
            alert=alert and state in _ALERT_KIND,
        )


def status_message(
    snapshot: Snapshot, reported_at: float, frames_per_second: float
) -> cameras_pb2.CameraStatus:
    """The camera's status as published on ``vigie.camera-status.v1`` (keyed by camera id)."""
    state = snapshot.state or CameraState.OFFLINE
    message = cameras_pb2.CameraStatus(
        camera_id=snapshot.camera_id,
        state=_WIRE_STATE[state],
        since=codec.time_to_proto(min(snapshot.since, reported_at)),
        reported_at=codec.time_to_proto(reported_at),
        reason=snapshot.reason,
        frames_per_second=frames_per_second if math.isfinite(frames_per_second) else 0.0,
        session_id=snapshot.session_id if snapshot.connected else "",
    )
    if snapshot.last_frame_at is not None:
        message.last_frame_at.CopyFrom(codec.time_to_proto(snapshot.last_frame_at))
    return message


def technical_event(transition: Transition) -> Event | None:
    """The technical alert a transition raises, or None (to online, or an ended file).

    Its id is a function of the camera, the kind and the transition's time (in ms), as every
    event id is; the frame reference names the camera and that time; the zone is empty (the
    whole camera)."""
    kind = _ALERT_KIND.get(transition.state)
    if kind is None or not transition.alert:
        return None
    age = transition.last_frame_age_s()
    details = {
        "status": str(transition.state),
        "reason": transition.reason,
        "last_frame_age_s": "" if age is None else fmt(age),
        "threshold_s": fmt(transition.threshold_s),
    }
    frame = FrameRef(transition.camera_id, transition.sequence, transition.at)
    return make_event(kind, frame, "", details=details)
