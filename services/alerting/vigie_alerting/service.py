"""Wiring of the alerting service: alert book, consumer stage and AlertDesk gRPC server.

Open alerts and dedup windows survive a restart: before consuming events, the book is re-seeded
from the alerts topic, which carries every alert's latest state (raised, merged, decided).
Reading the whole topic is linear in its size; compacted state tables are the next step.
"""

from __future__ import annotations

import logging
import threading

from vigie.v1 import services_pb2_grpc
from vigie_alerting.grpc_api import AlertDeskServicer, Outbox
from vigie_alerting.handler import AlertingHandler
from vigie_alerting.settings import AlertingSettings
from vigie_core.alerting import AlertBook, AlertRules
from vigie_runtime import codec
from vigie_runtime.bus import Bus
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import Health
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topics import ALERTS, EVENTS

log = logging.getLogger(__name__)


class AlertingService:
    def __init__(self, settings: AlertingSettings, bus: Bus, health: Health) -> None:
        self.bus = bus
        self.book = AlertBook(AlertRules(dict(settings.severities), settings.cooldown_s))
        self.lock = lock = threading.Lock()
        self.restored = False
        health.add_check("alerting.restored", lambda: self.restored)
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

    def restore(self) -> int:
        """Re-seed the book from published alerts; returns how many were read."""
        restored = 0
        for message in self.bus.read_all(ALERTS, timeout_s=120):
            try:
                alert = codec.decode_alert(message.value)
            except codec.DecodeError:
                continue  # already dead-lettered by the archive; nothing to restore
            with self.lock:
                self.book.restore(alert)
            restored += 1
        log.info("alert book restored", extra={"alerts": restored})
        return restored

    def run(self, stop: threading.Event) -> None:
        self.restore()
        self.restored = True
        with self.grpc:
            self.runner.run(stop)


def build(settings: AlertingSettings, bus: Bus, health: Health) -> AlertingService:
    return AlertingService(settings, bus, health)
