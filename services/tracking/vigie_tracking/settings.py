"""Tracking settings: the tracker's parameters, named by what they mean."""

from __future__ import annotations

from pydantic import Field

from vigie_runtime.settings import HttpSettings, ServiceSettings, StrictModel


class TrackerSettings(StrictModel):
    min_hits: int = Field(3, ge=1, description="matched frames before a track is published")
    lost_buffer_s: float = Field(1.5, gt=0, description="how long an unseen track is kept")
    match_iou: float = Field(0.3, gt=0, lt=1, description="minimum IoU to associate")
    min_confidence: float = Field(0.3, ge=0, lt=1, description="detections below are ignored")


class TrackingSettings(ServiceSettings):
    group_id: str = "vigie-tracking"
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=9403))
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
