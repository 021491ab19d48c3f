"""Wiring of the tracking service: the scene file's zones, one consumer stage, no server."""

from __future__ import annotations

import logging

from vigie_runtime.bus import Bus
from vigie_runtime.health import Health
from vigie_runtime.scenes import load_scenes
from vigie_runtime.service import StageService
from vigie_runtime.timebounds import TimeGuard
from vigie_runtime.topology import TRACKING
from vigie_tracking.handler import TrackingHandler
from vigie_tracking.settings import TrackingSettings

log = logging.getLogger(__name__)


class TrackingService(StageService):
    def __init__(self, settings: TrackingSettings, bus: Bus, health: Health) -> None:
        super().__init__(TRACKING, settings, bus, health)
        params = settings.tracker.params()
        scenes = load_scenes(settings.scenes)
        if settings.scenes is not None and not any(scene.zones for scene in scenes.values()):
            log.warning("the scene file has no zones: track summaries carry no time in zones")
        self.handler = TrackingHandler(
            params, scenes=scenes, guard=TimeGuard(settings.time), max_cameras=settings.max_cameras
        )
        self.add_stage(
            "tracking",
            self.handler.decode,
            self.handler.handle,
            counts_frames=True,
            state=self.handler,
        )


def build(settings: TrackingSettings, bus: Bus, health: Health) -> TrackingService:
    return TrackingService(settings, bus, health)
