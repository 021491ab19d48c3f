"""Tracking settings: the tracker's parameters, named by what they mean.

Every default is the core's (``TrackerParams()``): one source of truth, so the figures
``make eval-mot`` prints for the defaults are those of what the service runs. The confidence
thresholds among them are set for the detector the services run by default (yolov4-tiny at
its 0.4 threshold), not for the Faster R-CNN detections of the MOT15 evaluation, whose scores
are calibrated differently: set them again when you change the model.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from vigie_core.tracking import TrackerParams
from vigie_runtime.codec import MAX_PATH_POINTS  # what a track summary may carry
from vigie_runtime.settings import HttpSettings, ServiceSettings, StrictModel
from vigie_runtime.topology import TRACKING

_DEFAULT = TrackerParams()


class TrackerSettings(StrictModel):
    min_hits: int = Field(_DEFAULT.min_hits, ge=1, description="matches before publishing")
    lost_buffer_s: float = Field(_DEFAULT.lost_buffer_s, gt=0, description="unseen track kept")
    high_confidence: float = Field(_DEFAULT.high_confidence, gt=0, le=1)
    low_confidence: float = Field(_DEFAULT.low_confidence, ge=0, le=1)
    birth_confidence: float = Field(_DEFAULT.birth_confidence, gt=0, le=1)
    match_iou: float = Field(_DEFAULT.match_iou, gt=0, lt=1)
    second_match_iou: float = Field(_DEFAULT.second_match_iou, gt=0, lt=1)
    lost_margin_per_s: float = Field(_DEFAULT.lost_margin_per_s, ge=0)
    path_interval_s: float = Field(_DEFAULT.path_interval_s, gt=0)
    max_path_points: int = Field(_DEFAULT.max_path_points, ge=2, le=MAX_PATH_POINTS)
    speed_window_s: float = Field(_DEFAULT.speed_window_s, gt=0, description="speed measured over")

    @model_validator(mode="after")
    def _consistent(self) -> TrackerSettings:
        self.params()  # the core's ValueError becomes a settings error pointing at the file
        return self

    def params(self) -> TrackerParams:
        """The core's parameters; the core validates how they relate (low <= high <= birth)."""
        return TrackerParams(**self.model_dump())


class TrackingSettings(ServiceSettings):
    group_id: str = TRACKING.group_id
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=TRACKING.http_port))
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
    # The scene file analytics reads (`cameras: {<camera id>: {zones: [...]}}`): track summaries
    # then say how long each track spent in each zone of its camera. None: no zone times.
    scenes: Path | None = None
    # Cameras one replica keeps a tracker for. Camera ids come from the input: beyond this, a
    # new camera's detections are dead-lettered with the reason (scale out, or raise it).
    max_cameras: int = Field(1000, ge=1, le=100_000)
