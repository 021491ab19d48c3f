"""Wiring of the analytics service: the scene file (hot-reloaded), a stage on tracks, and a stage
on frames for the pixel analysers when any camera's policy enables one."""

from __future__ import annotations

import logging
import threading

from vigie.v1 import frames_pb2
from vigie_analytics.handler import AnalyticsHandler
from vigie_analytics.pixels.handler import STAGE, PixelHandler
from vigie_analytics.pixels.policies import pixel_policies
from vigie_analytics.scene_watch import Scenes, SceneWatch
from vigie_analytics.settings import AnalyticsSettings
from vigie_core.scene import SceneSpec
from vigie_runtime.bus import Bus
from vigie_runtime.health import Health
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.state import StateSpec
from vigie_runtime.topics import ANALYTICS_STATE, FRAMES, TRACKS

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
            state=StateSpec(self.handler, topic=ANALYTICS_STATE, follows=TRACKS),
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)
        self.pixels = PixelHandler(pixel_policies(settings), self._scene_of, settings.freshness)
        self.pixel_runner: StageRunner[frames_pb2.Frame] | None = None
        if self.pixels.cameras:
            pixel_stage = Stage(
                name=STAGE,
                topics=[FRAMES],
                group_id=f"{settings.group_id}-pixels",
                decode=self.pixels.decode,
                handle=self.pixels.handle,
            )
            self.pixel_runner = StageRunner(
                pixel_stage, bus, health, settings.dead_letter_topic, max_batch=8
            )
            log.info(
                "pixel analysers enabled",
                extra={"cameras": sorted(self.pixels.cameras)},
            )

    def _scene_of(self, camera: str) -> SceneSpec | None:
        return self.watch.scenes.get(camera) if self.watch is not None else None

    def _replace_scenes(self, previous: Scenes, scenes: Scenes) -> None:
        self.handler.replace_scenes(previous, scenes)

    def run(self, stop: threading.Event) -> None:
        if self.pixel_runner is None:
            self.runner.run(stop)
            return
        pixels = threading.Thread(target=self.pixel_runner.run, args=(stop,), name=STAGE)
        pixels.start()
        try:
            self.runner.run(stop)
        finally:
            stop.set()
            pixels.join()


def build(settings: AnalyticsSettings, bus: Bus, health: Health) -> AnalyticsService:
    return AnalyticsService(settings, bus, health)
