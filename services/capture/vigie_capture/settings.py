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


class CaptureSettings(ServiceSettings):
    group_id: str = CAPTURE.group_id  # unused (capture does not consume); kept for uniformity
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=CAPTURE.http_port))
    cameras: list[CameraSource] = Field(default_factory=list)
    # realtime: publish each frame at its media time (a replay looks like a live camera);
    # fast: as fast as the pipeline accepts, for replays and benchmarks.
    pacing: Literal["realtime", "fast"] = "realtime"
    flush_every: int = Field(10, ge=1, description="frames between delivery checks")
