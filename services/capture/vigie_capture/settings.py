"""Capture settings: the cameras this replica reads, and how fast."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vigie_runtime.settings import HttpSettings, ServiceSettings, StrictModel
from vigie_runtime.topology import CAPTURE


class CameraSource(StrictModel):
    # The key of every message about this camera, and the name in zone files and alerts.
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    # A file path, or a URL OpenCV opens (rtsp://, http:// MJPEG).
    source: str = Field(min_length=1)
    on_end: Literal["stop", "loop"] = "stop"
    start_s: float = Field(0.0, ge=0)
    max_frames: int | None = Field(None, ge=1)
    jpeg_quality: int = Field(85, ge=30, le=100)
    # Recorded media is a replay (later stages never skip its frames); a live camera is not.
    replay: bool = True


class ReconnectSettings(StrictModel):
    """How a camera thread retries a source that would not open or stopped giving frames: after
    ``initial_s``, doubling up to ``max_s``, each wait shortened by up to ``jitter`` of itself so
    that many cameras behind one switch do not retry in step. A stream URL (rtsp://, http://) is
    retried for as long as capture runs; a file or device path, which may be mounted late, at
    most ``max_attempts_for_files`` times, after which the camera is given up and capture exits
    non-zero."""

    initial_s: float = Field(1.0, gt=0, le=3600)
    max_s: float = Field(30.0, gt=0, le=3600)
    jitter: float = Field(0.2, ge=0, le=1)
    max_attempts_for_files: int = Field(5, ge=1)
    # How long OpenCV may take to open a stream URL before the attempt counts as failed.
    open_timeout_s: float = Field(10.0, gt=0, le=600)


class StallSettings(StrictModel):
    """A camera is stalled when no new frame arrives within ``intervals`` frame intervals
    (1/fps), and never less than ``min_s``. After ``reconnect_after_s`` without a frame a
    stream's read gives up (OpenCV's read timeout) and the camera reconnects."""

    intervals: float = Field(5.0, gt=0)
    min_s: float = Field(2.0, gt=0)
    reconnect_after_s: float = Field(10.0, gt=0, le=600)


class StatusSettings(StrictModel):
    # Every camera's status is published again this often, changed or not.
    heartbeat_s: float = Field(10.0, gt=0, le=3600)


class CaptureSettings(ServiceSettings):
    group_id: str = CAPTURE.group_id  # unused (capture does not consume); kept for uniformity
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=CAPTURE.http_port))
    cameras: list[CameraSource] = Field(default_factory=list)
    # realtime: publish each frame at its media time (a replay looks like a live camera);
    # fast: as fast as the pipeline accepts, for replays and benchmarks.
    pacing: Literal["realtime", "fast"] = "realtime"
    flush_every: int = Field(10, ge=1, description="frames between delivery checks")
    reconnect: ReconnectSettings = Field(default_factory=ReconnectSettings)
    stall: StallSettings = Field(default_factory=StallSettings)
    status: StatusSettings = Field(default_factory=StatusSettings)
