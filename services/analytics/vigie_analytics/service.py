"""Wiring of the analytics service: scene file, one consumer stage."""

from __future__ import annotations

import logging
import threading

from vigie_analytics.handler import AnalyticsHandler
from vigie_analytics.settings import AnalyticsSettings
from vigie_runtime.bus import Bus
from vigie_runtime.health import Health
from vigie_runtime.scenes import load_scenes
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topics import TRACKS

log = logging.getLogger(__name__)


class AnalyticsService:
    def __init__(self, settings: AnalyticsSettings, bus: Bus, health: Health) -> None:
        scenes = load_scenes(settings.scenes)
        if not scenes:
            log.warning("no scenes configured: no zone or line will raise events")
        self.handler = AnalyticsHandler(scenes)
        stage = Stage(
            name="analytics",
            topics=[TRACKS],
            group_id=settings.group_id,
            decode=self.handler.decode,
            handle=self.handler.handle,
            counts_frames=True,
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)

    def run(self, stop: threading.Event) -> None:
        self.runner.run(stop)


def build(settings: AnalyticsSettings, bus: Bus, health: Health) -> AnalyticsService:
    return AnalyticsService(settings, bus, health)
