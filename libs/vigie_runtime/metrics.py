"""Prometheus metrics every stage exposes, labelled by stage and, where it matters, camera.

Defined once at import: prometheus_client refuses to register a name twice, and the single-process
demo runs every stage in one interpreter (hence the ``stage`` label everywhere).

Every camera label value costs a series in every scrape, for as long as the process lives, and
camera ids come from the input: many distinct valid ids would grow the registry without bound.
:func:`camera_label` gives the first ``MAX_CAMERA_LABELS`` cameras of a stage their own label and
folds the rest into ``OTHER_CAMERA``, counting each folded message
(``vigie_camera_labels_overflow_total``) and warning once per stage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter("vigie_messages_in_total", "Messages consumed", ["stage", "topic"])
MESSAGES_OUT = Counter("vigie_messages_out_total", "Messages delivered", ["stage", "topic"])
PROCESSING_SECONDS = Histogram(
    "vigie_processing_seconds",
    "Time to decode and handle one message",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ERRORS = Counter("vigie_errors_total", "Errors by kind", ["stage", "kind"])
DEAD_LETTERS = Counter(
    "vigie_dead_letters_total", "Messages sent to the dead-letter topic", ["stage", "topic"]
)
CAMERA_FRAMES = Counter(
    "vigie_camera_frames_total", "Frames handled per camera", ["stage", "camera"]
)
CAMERA_FPS = Gauge(
    "vigie_camera_fps", "Frames per second per camera (10 s window)", ["stage", "camera"]
)
CAMERA_LABELS_OVERFLOW = Counter(
    "vigie_camera_labels_overflow_total",
    "Messages counted under the camera label 'other': the stage already labels its maximum",
    ["stage"],
)
STALE_DROPPED = Counter(
    "vigie_stale_messages_total",
    "Duplicate or out-of-order messages skipped (replays after a restart)",
    ["stage", "camera"],
)


log = logging.getLogger(__name__)

MAX_CAMERA_LABELS = 1000  # distinct camera label values per stage, per metric
OTHER_CAMERA = "(other)"  # the label of every camera beyond them
IDLE_S = 60.0  # a camera with no frame this long leaves the frame-rate window (its fps set to 0)


class CameraLabels:
    """Which camera ids a stage labels its metrics with: the first ``limit`` seen, for good
    (a series that came and went would confuse every dashboard), the others as one."""

    def __init__(self, limit: int = MAX_CAMERA_LABELS) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._known: dict[str, set[str]] = {}  # by stage: stage names are code, not input
        self._warned: set[str] = set()

    def __call__(self, stage: str, camera: str) -> str:
        with self._lock:
            known = self._known.setdefault(stage, set())
            if camera in known:
                return camera
            if len(known) < self.limit:
                known.add(camera)
                return camera
            first = stage not in self._warned
            self._warned.add(stage)
        CAMERA_LABELS_OVERFLOW.labels(stage).inc()
        if first:
            log.warning(
                "too many cameras to label one by one: the others are counted as one",
                extra={"stage": stage, "cameras": self.limit, "label": OTHER_CAMERA},
            )
        return OTHER_CAMERA


camera_label = CameraLabels()


class FrameRate:
    """Per-camera frames/s over a sliding window, published as a gauge.

    Bounded: a camera with no frame for ``idle_s`` is dropped (its gauge set to 0, the truth
    about a camera that stopped), and at most ``max_cameras`` are followed at once (the least
    recently ticked goes first). Cameras folded into ``OTHER_CAMERA`` count frames but publish
    no rate, since a rate mixing cameras would mean nothing.
    """

    def __init__(
        self,
        stage: str,
        window_s: float = 10.0,
        idle_s: float = IDLE_S,
        max_cameras: int = MAX_CAMERA_LABELS,
        labels: CameraLabels = camera_label,
    ) -> None:
        self.stage = stage
        self.window_s = window_s
        self.idle_s = max(idle_s, window_s)
        self.max_cameras = max_cameras
        self.labels = labels
        self._lock = threading.Lock()
        # Camera -> (its label, its frame times); least recently ticked first, so idle cameras
        # are found at the front.
        self._stamps: OrderedDict[str, tuple[str, deque[float]]] = OrderedDict()

    def tick(self, camera: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        label = self.labels(self.stage, camera)
        with self._lock:
            dropped = self._drop_idle(now, keep=camera)
            if camera not in self._stamps:
                self._stamps[camera] = (label, deque())
            self._stamps.move_to_end(camera)
            stamps = self._stamps[camera][1]
            stamps.append(now)
            cutoff = now - self.window_s
            while stamps and stamps[0] < cutoff:
                stamps.popleft()
            span = max(now - stamps[0], 1e-9) if len(stamps) > 1 else self.window_s
            rate = (len(stamps) - 1) / span if len(stamps) > 1 else 0.0
        for gone in dropped:
            CAMERA_FPS.labels(self.stage, gone).set(0.0)
        CAMERA_FRAMES.labels(self.stage, label).inc()
        if label != OTHER_CAMERA:
            CAMERA_FPS.labels(self.stage, label).set(rate)

    def sweep(self, now: float | None = None) -> None:
        """Drop idle cameras without a frame to trigger it (a periodic caller may use this)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            dropped = self._drop_idle(now)
        for gone in dropped:
            CAMERA_FPS.labels(self.stage, gone).set(0.0)

    def cameras(self) -> list[str]:
        with self._lock:
            return list(self._stamps)

    def refresh(self, now: float | None = None) -> dict[str, float]:
        """Recompute every followed camera's rate over the window ending ``now``, without a
        frame, and return them by camera: a camera whose frames stopped sees its rate fall, to 0
        once its window holds at most one frame (capture's camera watch calls this
        periodically). Idle cameras are dropped as by :meth:`sweep`."""
        now = time.monotonic() if now is None else now
        rates: dict[str, float] = {}
        published: list[tuple[str, float]] = []
        with self._lock:
            dropped = self._drop_idle(now)
            cutoff = now - self.window_s
            for camera, (label, stamps) in self._stamps.items():
                while len(stamps) > 1 and stamps[0] < cutoff:
                    stamps.popleft()
                rate = (len(stamps) - 1) / max(now - stamps[0], 1e-9) if len(stamps) > 1 else 0.0
                rates[camera] = rate
                if label != OTHER_CAMERA:
                    published.append((label, rate))
        for gone in dropped:
            CAMERA_FPS.labels(self.stage, gone).set(0.0)
        for label, rate in published:
            CAMERA_FPS.labels(self.stage, label).set(rate)
        return rates

    def _drop_idle(self, now: float, keep: str = "") -> list[str]:
        """Cameras idle for ``idle_s``, or beyond ``max_cameras``, removed; their labels."""
        dropped: list[str] = []
        while self._stamps:
            camera, (label, stamps) = next(iter(self._stamps.items()))
            crowded = len(self._stamps) >= self.max_cameras and keep not in self._stamps
            if camera == keep or not (crowded or now - stamps[-1] > self.idle_s):
                break
            del self._stamps[camera]
            if label != OTHER_CAMERA:
                dropped.append(label)
        return dropped


UNCONFIGURED_CAMERA = Counter(
    "vigie_unconfigured_camera_messages_total",
    "Messages for a camera the stage has no configuration for (not analysed)",
    ["stage", "camera"],
)


# Camera watch (capture): how old each camera's last frame is, computed when scraped, and which
# state it is in (1 for the current state, 0 for the others).
CAMERA_LAST_FRAME_AGE = Gauge(
    "vigie_camera_last_frame_age_seconds",
    "Seconds since the camera's last frame was read (since the watch began, before any frame)",
    ["stage", "camera"],
)
CAMERA_STATUS = Gauge(
    "vigie_camera_status",
    "Camera state as capture sees it: 1 for the current state (online, stalled, offline)",
    ["stage", "camera", "state"],
)


# Latency: how old a message's time (its frame's capture) is when a stage handles it, which is
# the latency from the camera to that stage, hop by hop; and from a frame to the alert it raised.
MESSAGE_AGE = Histogram(
    "vigie_message_age_seconds",
    "Age of a message's time (its frame's capture) when the stage handles it",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
)
FRAME_TO_ALERT = Histogram(
    "vigie_frame_to_alert_seconds",
    "From the capture of the frame that raised an alert to the alert's publication",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
# Each partition's distance to its end for each consumer group, as the client sees it
# (librdkafka's statistics, every kafka.stats_interval_ms); bounded by the partitions assigned.
CONSUMER_LAG = Gauge(
    "vigie_consumer_lag",
    "Messages between a consumer group's position and the end of the partition",
    ["group", "topic", "partition"],
)
BUILD_INFO = Gauge(
    "vigie_build_info",
    "Always 1: the running release, for dashboards and for telling rollouts apart",
    ["service", "version", "python"],
)
