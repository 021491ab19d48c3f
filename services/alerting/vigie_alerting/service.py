"""Wiring of the alerting service: the engine, its driver, and the AlertDesk gRPC server.

On a real broker the engine runs in the faust-streaming application (``streaming.py``): its
state is in a changelog-backed table, so open alerts and dedup windows survive a restart. On the
in-memory bus of the single-process demo, a runtime stage drives the same engine over a dict.
"""

from __future__ import annotations

import logging
import threading
import time

from vigie.v1 import services_pb2_grpc
from vigie_alerting.desk import Desk, LocalDesk, Outbox, WatchHub
from vigie_alerting.engine import AlertEngine
from vigie_alerting.grpc_api import AlertDeskServicer
from vigie_alerting.handler import AlertingHandler
from vigie_alerting.policy_file import load_policy
from vigie_alerting.policy_watch import PolicyWatch
from vigie_alerting.settings import AlertingSettings
from vigie_alerting.streaming import AlertStreams
from vigie_runtime.admin import admin_client, ensure_topics, partitions_of
from vigie_runtime.auth import Authenticator
from vigie_runtime.bus import Bus
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.health import Health
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.streams import run_app
from vigie_runtime.topics import ALERTS, AUDIT, BY_NAME, EVENTS, VERDICTS, TopicSpec

log = logging.getLogger(__name__)


def _desk_server(settings: AlertingSettings, desk: Desk) -> GrpcServer:
    servicer = AlertDeskServicer(desk, Authenticator.from_file(settings.tokens_file))
    registration = Registration(
        services_pb2_grpc.add_AlertDeskServicer_to_server, servicer, "vigie.v1.AlertDesk"
    )
    return GrpcServer(settings.grpc, [registration])


def _prepare_topics(settings: AlertingSettings, audience_topics: list[str]) -> int:
    """Create the topics the service reads and writes if missing (audience topics come from the
    policy, so nothing else knows them); returns the partition count of the events topic, which
    the state table must share so a camera's state sits on its events' partition number."""
    admin = admin_client(settings.kafka.bootstrap_servers, settings.kafka.extra)
    alerts = BY_NAME[ALERTS]
    audiences = [
        TopicSpec(t, alerts.partitions, "alerts for one audience", alerts.config)
        for t in audience_topics
    ]
    dead = settings.dead_letter_topic
    mine = [BY_NAME[t] for t in (EVENTS, VERDICTS, ALERTS, AUDIT)]
    mine.append(BY_NAME.get(dead) or TopicSpec(dead, 1, "dead letters"))
    for line in ensure_topics(admin, [*mine, *audiences]):
        log.info("topic", extra={"topic": line})
    partitions = partitions_of(admin, EVENTS)
    if partitions is None:
        raise RuntimeError(f"topic {EVENTS} is missing after creation")
    return partitions


class StreamingAlertingService:
    """Production: the faust application, with the desk served from its state."""

    def __init__(self, settings: AlertingSettings, bus: KafkaBus, health: Health) -> None:
        policy = load_policy(settings.policy_file, settings.policy)
        partitions = _prepare_topics(settings, [r.topic for r in policy.file.routes])
        self.streams = AlertStreams(
            settings.group_id,
            settings.kafka,
            policy,
            settings.dead_letter_topic,
            settings.tick_s,
            settings.desk_timeout_s,
            partitions,
            settings.policy_file,
        )
        health.add_check("alerting.recovered", self.streams.ready)
        self.health = health
        self.grpc = _desk_server(settings, self.streams)

    def run(self, stop: threading.Event) -> None:
        beat = threading.Thread(target=self._beat, args=(stop,), daemon=True)
        beat.start()
        with self.grpc:
            try:
                run_app(self.streams.app, stop, self.streams.on_started)
            finally:
                self.streams.hub.close()

    def _beat(self, stop: threading.Event) -> None:
        # The application's loop is ours to watch: alive while its agents make progress.
        while not stop.wait(1.0):
            if self.streams.started.is_set() and not self.streams.app.should_stop:
                self.health.beat()


class InProcessAlertingService:
    """The single-process demo: a runtime stage over the in-memory bus drives the engine."""

    def __init__(self, settings: AlertingSettings, bus: Bus, health: Health) -> None:
        policy = load_policy(settings.policy_file, settings.policy)
        self.hub = WatchHub()
        self.engine = AlertEngine(policy, {}, listeners=[self.hub.publish])
        self.lock = lock = threading.Lock()
        self.outbox = outbox = Outbox()
        watch = PolicyWatch(settings.policy_file, self.engine) if settings.policy_file else None
        handler = AlertingHandler(self.engine, lock, time.time, settings.tick_s, watch)

        def housekeeping() -> list:  # type: ignore[type-arg]
            return [*outbox.drain(), *handler.tick()]

        stage = Stage(
            name="alerting",
            topics=[EVENTS, VERDICTS],
            group_id=settings.group_id,
            decode=handler.decode,
            handle=handler.handle,
            # Verdicts whose delivery failed, and escalations, go out with the next batch or
            # when idle.
            before_commit=housekeeping,
            on_idle=housekeeping,
        )
        self.runner = StageRunner.for_service(stage, bus, health, settings)
        desk = LocalDesk(
            self.engine, lock, bus.publisher("alerting-desk"), outbox, self.hub, time.time
        )
        self.grpc = _desk_server(settings, desk)
        self._policy_record = self.engine.policy_record(time.time())

    def run(self, stop: threading.Event) -> None:
        self.outbox.add([self._policy_record])
        with self.grpc:
            try:
                self.runner.run(stop)
            finally:
                self.hub.close()


AlertingService = StreamingAlertingService | InProcessAlertingService


def build(settings: AlertingSettings, bus: Bus, health: Health) -> AlertingService:
    if isinstance(bus, KafkaBus):
        return StreamingAlertingService(settings, bus, health)
    return InProcessAlertingService(settings, bus, health)
