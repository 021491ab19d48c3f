"""Alerting restarted on the real broker: open alerts come back and dedup goes on."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_alerting.service import AlertingService
from vigie_alerting.settings import AlertingSettings
from vigie_core.ids import stable_id
from vigie_core.types import Event, EventKind, FrameRef
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.health import Health
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import GrpcSettings, KafkaSettings
from vigie_runtime.topics import ALERTS, EVENTS

pytestmark = pytest.mark.integration


def intrusion(t: float, track: str) -> Event:
    frame = FrameRef("gate", int(t * 10), t, 768, 432)
    return Event(
        stable_id("gate", t, track), EventKind.ZONE_INTRUSION, frame, "lawn", "person", (track,)
    )


class Running:
    def __init__(self, bootstrap: str) -> None:
        kafka = KafkaSettings(
            bootstrap_servers=bootstrap,
            session_timeout_ms=2000,
            heartbeat_interval_ms=500,
            single_record_batches=True,
        )
        settings = AlertingSettings(
            kafka=kafka, grpc=GrpcSettings(host="127.0.0.1", port=0, grace_s=1), cooldown_s=60
        )
        self.health = Health()
        self.service = AlertingService(settings, KafkaBus(kafka), self.health)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.service.run, args=(self.stop,))
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.health.ready() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.health.ready(), self.health.readiness()

    def desk(self) -> services_pb2_grpc.AlertDeskStub:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.service.grpc.port}")
        return services_pb2_grpc.AlertDeskStub(channel)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def alerts_on_topic(bus: KafkaBus) -> list[Message]:
    return bus.read_all(ALERTS, timeout_s=20)


def wait_for(predicate: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def test_open_alerts_and_dedup_survive_a_restart(bootstrap: str) -> None:
    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap, single_record_batches=True))
    publisher = bus.publisher("test")

    first = Running(bootstrap)
    try:
        publisher.publish(
            Output(EVENTS, "gate", codec.encode(codec.event_to_proto(intrusion(100.0, "gate/a-0"))))
        )
        publisher.flush(10)
        wait_for(lambda: len(alerts_on_topic(bus)) == 1)
        listed = first.desk().ListAlerts(services_pb2.ListAlertsRequest())
        assert len(listed.alerts) == 1
        alert_id = listed.alerts[0].alert_id
    finally:
        first.close()

    second = Running(bootstrap)
    try:
        listed = second.desk().ListAlerts(services_pb2.ListAlertsRequest())
        assert [a.alert_id for a in listed.alerts] == [alert_id]  # the open alert came back
        # The same kind in the same zone within the cooldown merges: no second alert.
        publisher.publish(
            Output(EVENTS, "gate", codec.encode(codec.event_to_proto(intrusion(110.0, "gate/b-0"))))
        )
        publisher.flush(10)
        wait_for(lambda: len(alerts_on_topic(bus)) == 2)
        latest = codec.decode_alert(alerts_on_topic(bus)[-1].value)
        assert (latest.alert_id, latest.count) == (alert_id, 2)
        listed = second.desk().ListAlerts(services_pb2.ListAlertsRequest())
        assert [(a.alert_id, a.count) for a in listed.alerts] == [(alert_id, 2)]
    finally:
        second.close()
