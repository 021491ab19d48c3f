"""Wiring of the tracking service: one consumer stage, no server."""

from __future__ import annotations

import threading

from vigie_runtime.bus import Bus
from vigie_runtime.health import Health
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topics import DETECTIONS, TRACKER_STATE
from vigie_tracking.handler import TrackingHandler, latest_states
from vigie_tracking.settings import TrackingSettings


class TrackingService:
    def __init__(self, settings: TrackingSettings, bus: Bus, health: Health) -> None:
        params = settings.tracker.params()
        self.handler = TrackingHandler(
            params, read_states=lambda: latest_states(bus.read_all(TRACKER_STATE))
        )
        stage = Stage(
            name="tracking",
            topics=[DETECTIONS],
            group_id=settings.group_id,
            decode=self.handler.decode,
            handle=self.handler.handle,
            before_commit=self.handler.snapshots,
            counts_frames=True,
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)

    def run(self, stop: threading.Event) -> None:
        self.runner.run(stop)


def build(settings: TrackingSettings, bus: Bus, health: Health) -> TrackingService:
    return TrackingService(settings, bus, health)
