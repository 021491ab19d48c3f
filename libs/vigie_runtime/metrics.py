"""Prometheus metrics every stage exposes, labelled by stage and, where it matters, camera.

Defined once at import: prometheus_client refuses to register a name twice, and the single-process
demo runs every stage in one interpreter (hence the ``stage`` label everywhere).
"""

from __future__ import annotations

import threading
import time

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
STALE_DROPPED = Counter(
    "vigie_stale_messages_total",
    "Duplicate or out-of-order messages skipped (replays after a restart)",
    ["stage", "camera"],
)


class FrameRate:
    """Per-camera frames/s over a sliding window, published as a gauge."""

    def __init__(self, stage: str, window_s: float = 10.0) -> None:
        self.stage = stage
        self.window_s = window_s
        self._lock = threading.Lock()
        self._stamps: dict[str, list[float]] = {}

    def tick(self, camera: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            stamps = self._stamps.setdefault(camera, [])
            stamps.append(now)
            cutoff = now - self.window_s
            while stamps and stamps[0] < cutoff:
                stamps.pop(0)
            span = max(now - stamps[0], 1e-9) if len(stamps) > 1 else self.window_s
            rate = (len(stamps) - 1) / span if len(stamps) > 1 else 0.0
        CAMERA_FRAMES.labels(self.stage, camera).inc()
        CAMERA_FPS.labels(self.stage, camera).set(rate)


UNCONFIGURED_CAMERA = Counter(
    "vigie_unconfigured_camera_messages_total",
    "Messages for a camera the stage has no configuration for (not analysed)",
    ["stage", "camera"],
)
