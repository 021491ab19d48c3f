"""Wiring of the alerting service: alert book, consumer stage and AlertDesk gRPC server."""

from __future__ import annotations

import threading

from vigie.v1 import services_pb2_grpc
from vigie_alerting.grpc_api import AlertDeskServicer, Outbox
from vigie_alerting.handler import AlertingHandler
from vigie_alerting.settings import AlertingSettings
from vigie_core.alerting import AlertBook, AlertRules
from vigie_runtime.bus import Bus
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import Health
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topics import EVENTS


class AlertingService:
    def __init__(self, settings: AlertingSettings, bus: Bus, health: Health) -> None:
        self.book = AlertBook(AlertRules(dict(settings.severities), settings.cooldown_s))
        lock = threading.Lock()
        self.outbox = Outbox()
        handler = AlertingHandler(self.book, lock)
        stage = Stage(
            name="alerting",
            topics=[EVENTS],
            group_id=settings.group_id,
            decode=handler.decode,
            handle=handler.handle,
            # Verdicts whose delivery failed go out with the next batch, or when idle.
            before_commit=self.outbox.drain,
            on_idle=self.outbox.drain,
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)
        desk = AlertDeskServicer(self.book, lock, bus.publisher("alerting-desk"), self.outbox)
        self.grpc = GrpcServer(
            settings.grpc,
            [
                Registration(
                    services_pb2_grpc.add_AlertDeskServicer_to_server, desk, "vigie.v1.AlertDesk"
                )
            ],
        )

    def run(self, stop: threading.Event) -> None:
        with self.grpc:
            self.runner.run(stop)


def build(settings: AlertingSettings, bus: Bus, health: Health) -> AlertingService:
    return AlertingService(settings, bus, health)
