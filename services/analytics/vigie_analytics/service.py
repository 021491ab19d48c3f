"""Wiring of the analytics service: the scene file (hot-reloaded), a stage on tracks, and a stage
on frames for the pixel analysers when any camera's policy enables one."""

from __future__ import annotations

import logging

from vigie_analytics.handler import AnalyticsHandler
from vigie_analytics.pixels.handler import STAGE, PixelHandler
from vigie_analytics.pixels.policies import pixel_policies
from vigie_analytics.scene_watch import Scenes, SceneWatch
from vigie_analytics.settings import AnalyticsSettings
from vigie_core.scene import SceneSpec
from vigie_runtime.bus import Bus
from vigie_runtime.health import Health
from vigie_runtime.service import StageService
from vigie_runtime.timebounds import TimeGuard
from vigie_runtime.topology import ANALYTICS

log = logging.getLogger(__name__)


class AnalyticsService(StageService):
    def __init__(self, settings: AnalyticsSettings, bus: Bus, health: Health) -> None:
        super().__init__(ANALYTICS, settings, bus, health)
        self.watch: SceneWatch | None = None
        if settings.scenes is not None:
            self.watch = SceneWatch(settings.scenes, self._replace_scenes, settings.scenes_reload_s)
        scenes = self.watch.scenes if self.watch is not None else {}
        if not scenes:
            log.warning("no scenes configured: no zone or line will raise events")
        self.handler = AnalyticsHandler(
            scenes,
            self.watch.poll if self.watch is not None else None,
            guard=TimeGuard(settings.time),
            unknown_cameras=settings.unknown_cameras,
        )
        self.add_stage(
            "analytics",
            self.handler.decode,
            self.handler.handle,
            counts_frames=True,
            state=self.handler,
        )
        self.pixels = PixelHandler(pixel_policies(settings), self._scene_of, settings.freshness)
        if self.pixels.cameras:
            self.add_stage(STAGE, self.pixels.decode, self.pixels.handle, max_batch=8)
            log.info(
                "pixel analysers enabled",
                extra={"cameras": sorted(self.pixels.cameras)},
            )

    def _scene_of(self, camera: str) -> SceneSpec | None:
        return self.watch.scenes.get(camera) if self.watch is not None else None

    def _replace_scenes(self, previous: Scenes, scenes: Scenes) -> None:
        self.handler.replace_scenes(previous, scenes)


def build(settings: AnalyticsSettings, bus: Bus, health: Health) -> AnalyticsService:
    return AnalyticsService(settings, bus, health)
