"""Wiring of the tracking service: the scene file's zones, one consumer stage, no server."""

from __future__ import annotations

import logging
import threading

from vigie_runtime.bus import Bus
from vigie_runtime.health import Health
from vigie_runtime.scenes import load_scenes
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.state import StateSpec
from vigie_runtime.topics import DETECTIONS, TRACKER_STATE
from vigie_tracking.handler import TrackingHandler
from vigie_tracking.settings import TrackingSettings

log = logging.getLogger(__name__)


class TrackingService:
    def __init__(self, settings: TrackingSettings, bus: Bus, health: Health) -> None:
        params = settings.tracker.params()
        scenes = load_scenes(settings.scenes)
        if settings.scenes is not None and not any(scene.zones for scene in scenes.values()):
            log.warning("the scene file has no zones: track summaries carry no time in zones")
        self.handler = TrackingHandler(params, scenes=scenes)
        stage = Stage(
            name="tracking",
            topics=[DETECTIONS],
            group_id=settings.group_id,
            decode=self.handler.decode,
            handle=self.handler.handle,
            counts_frames=True,
            state=StateSpec(self.handler, topic=TRACKER_STATE, follows=DETECTIONS),
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)

    def run(self, stop: threading.Event) -> None:
        self.runner.run(stop)


def build(settings: TrackingSettings, bus: Bus, health: Health) -> TrackingService:
    return TrackingService(settings, bus, health)
