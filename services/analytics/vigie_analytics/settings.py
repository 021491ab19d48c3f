"""Analytics settings: where the per-camera scene file (zones and lines) lives."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from vigie_analytics.pixels.emotion import EmotionSettings
from vigie_analytics.pixels.fire import FireSettings
from vigie_runtime.freshness import FreshnessSettings
from vigie_runtime.settings import HttpSettings, ServiceSettings
from vigie_runtime.topology import ANALYTICS


class AnalyticsSettings(ServiceSettings):
    # The tracks stage's group; the pixel stage's is this followed by "-pixels".
    group_id: str = ANALYTICS.group_id
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=ANALYTICS.http_port))
    # YAML with `cameras: {<camera id>: {zones: [...], lines: [...]}}`; see scenes/*.yaml.
    scenes: Path | None = None
    # How often the scene file is checked for changes (applied without a restart).
    scenes_reload_s: float = Field(2.0, gt=0)
    # Tracks of a camera the scene file does not name: "skip" them (counted per camera and
    # warned about once each), or "dead-letter" every one with the reason, for sites where a
    # camera outside the registry must never pass unnoticed.
    unknown_cameras: Literal["skip", "dead-letter"] = "skip"
    # Pixel analysers skip live frames older than this (replays never).
    freshness: FreshnessSettings = Field(default_factory=FreshnessSettings)
    # Fire (and smoke) from the pixels of the cameras listed in fire.enabled_cameras.
    fire: FireSettings = Field(default_factory=FireSettings)
    # Aggregate emotion per zone and window, only for the cameras in emotion.enabled_cameras.
    emotion: EmotionSettings = Field(default_factory=EmotionSettings)
