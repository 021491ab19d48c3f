"""Wiring of the analytics service: scene file, one consumer stage."""

from __future__ import annotations

import logging
import threading

from vigie_analytics.handler import AnalyticsHandler
from vigie_analytics.scene_watch import Scenes, SceneWatch
from vigie_analytics.settings import AnalyticsSettings
from vigie_runtime.bus import Bus
from vigie_runtime.health import Health
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topics import TRACKS

log = logging.getLogger(__name__)


class AnalyticsService:
    def __init__(self, settings: AnalyticsSettings, bus: Bus, health: Health) -> None:
        self.watch: SceneWatch | None = None
        if settings.scenes is not None:
            self.watch = SceneWatch(settings.scenes, self._replace_scenes, settings.scenes_reload_s)
        scenes = self.watch.scenes if self.watch is not None else {}
        if not scenes:
            log.warning("no scenes configured: no zone or line will raise events")
        self.handler = AnalyticsHandler(scenes, self.watch.poll if self.watch is not None else None)
        stage = Stage(
            name="analytics",
            topics=[TRACKS],
            group_id=settings.group_id,
            decode=self.handler.decode,
            handle=self.handler.handle,
            counts_frames=True,
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)

    def _replace_scenes(self, previous: Scenes, scenes: Scenes) -> None:
        self.handler.replace_scenes(previous, scenes)

    def run(self, stop: threading.Event) -> None:
        self.runner.run(stop)


def build(settings: AnalyticsSettings, bus: Bus, health: Health) -> AnalyticsService:
    return AnalyticsService(settings, bus, health)
