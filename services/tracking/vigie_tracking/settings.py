"""Tracking settings: the tracker's parameters, named by what they mean.

Defaults are the tracker's own (tuned on MOT15, see `make eval-mot`); confidences are calibrated
per detector, so a deployment with another model may want other thresholds.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from vigie_core.tracking import TrackerParams
from vigie_runtime.settings import HttpSettings, ServiceSettings, StrictModel

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
    max_path_points: int = Field(_DEFAULT.max_path_points, ge=2)

    @model_validator(mode="after")
    def _consistent(self) -> TrackerSettings:
        self.params()  # the core's ValueError becomes a settings error pointing at the file
        return self

    def params(self) -> TrackerParams:
        """The core's parameters; the core validates how they relate (low <= high <= birth)."""
        return TrackerParams(**self.model_dump())


class TrackingSettings(ServiceSettings):
    group_id: str = "vigie-tracking"
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=9403))
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
