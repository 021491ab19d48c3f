"""Alerting handler (events in, alerts out) and the AlertDesk API's delivery through the outbox."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import grpc
import pytest

from vigie.v1 import alerts_pb2, services_pb2
from vigie_alerting.grpc_api import AlertDeskServicer, Outbox
from vigie_alerting.handler import AlertingHandler
from vigie_core.alerting import AlertBook, AlertRules
from vigie_core.ids import stable_id
from vigie_core.types import (
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
    Severity,
    VerdictAction,
)
from vigie_runtime import codec
from vigie_runtime.bus import DeliveryError, Message, Output
from vigie_runtime.topics import ALERTS, EVENTS, VERDICTS

CAMERA = "cam-gate"
T0 = 1_700_000_000.0
COOLDOWN_S = 60.0
DECIDED_AT = T0 + 120.0


def rules() -> AlertRules:
    # Line crossings are counts, not alerts: they have no severity.
    return AlertRules({EventKind.ZONE_INTRUSION: Severity.HIGH}, cooldown_s=COOLDOWN_S)


def make_event(
    t: float,
    track: str = "t1",
    kind: EventKind = EventKind.ZONE_INTRUSION,
    zone: str = "restricted",
    camera: str = CAMERA,
) -> Event:
    return Event(
        event_id=stable_id("test-event", camera, kind, zone, track, t),
        kind=kind,
        frame=FrameRef(camera, int((t - T0) * 10), t, 640, 480),
        zone=zone,
        class_name="person",
        track_ids=(f"{camera}/{track}",),
        details={"dwell_s": "1.000"},
    )


def message_of(event: Event, offset: int = 0) -> Message:
    return Message(EVENTS, 0, offset, event.camera_id.encode(), codec.encode(event))


@pytest.fixture
def book() -> AlertBook:
    return AlertBook(rules())


@pytest.fixture
def handler(book: AlertBook) -> AlertingHandler:
    return AlertingHandler(book, threading.Lock())


def feed(handler: AlertingHandler, events: Sequence[Event]) -> list[Output]:
    outputs: list[Output] = []
    for offset, event in enumerate(events):
        message = message_of(event, offset)
        outputs.extend(handler.handle(handler.decode(message), message))
    return outputs


# -- events in, alerts out ------------------------------------------------------------------------


def test_first_event_gives_a_new_alert(handler: AlertingHandler) -> None:
    event = make_event(T0)

    (output,) = feed(handler, [event])

    assert output.topic == ALERTS
    assert output.key == CAMERA
    alert = codec.decode_alert(output.value)
    assert alert.status is AlertStatus.RAISED
    assert alert.severity is Severity.HIGH
    assert alert.kind is EventKind.ZONE_INTRUSION
    assert alert.zone == "restricted"
    assert alert.camera_id == CAMERA
    assert alert.count == 1
    assert alert.first_event_id == event.event_id
    assert alert.first_seen == alert.last_seen == T0
    assert alert.track_ids == event.track_ids
    assert alert.frame == event.frame
    assert alert.reason  # a one-liner for the operator queue


def test_repeat_within_cooldown_updates_the_same_alert(handler: AlertingHandler) -> None:
    first, repeat = make_event(T0, "t1"), make_event(T0 + COOLDOWN_S / 2, "t2")

    outputs = feed(handler, [first, repeat])

    assert len(outputs) == 2
    raised, updated = (codec.decode_alert(o.value) for o in outputs)
    assert outputs[1].topic == ALERTS
    assert outputs[1].key == CAMERA
    assert updated.alert_id == raised.alert_id
    assert updated.count == 2
    assert updated.first_seen == T0
    assert updated.last_seen == T0 + COOLDOWN_S / 2
    assert updated.track_ids == (f"{CAMERA}/t1", f"{CAMERA}/t2")


def test_repeat_after_cooldown_raises_a_new_alert(handler: AlertingHandler) -> None:
    outputs = feed(handler, [make_event(T0, "t1"), make_event(T0 + COOLDOWN_S + 1, "t2")])

    first, second = (codec.decode_alert(o.value) for o in outputs)
    assert first.alert_id != second.alert_id
    assert second.count == 1


def test_same_event_twice_gives_no_second_output(handler: AlertingHandler) -> None:
    event = make_event(T0)
    assert len(feed(handler, [event])) == 1

    assert feed(handler, [event]) == []


def test_redelivered_merge_does_not_count_twice(handler: AlertingHandler) -> None:
    first, repeat = make_event(T0, "t1"), make_event(T0 + 5, "t2")
    feed(handler, [first, repeat])

    assert feed(handler, [first, repeat]) == []
    (alert,) = handler.book.alerts()
    assert alert.count == 2


def test_kind_without_severity_gives_no_output(handler: AlertingHandler) -> None:
    crossing = make_event(T0, kind=EventKind.LINE_CROSSING, zone="door-line")

    assert feed(handler, [crossing]) == []
    assert handler.book.alerts(include_closed=True) == []


def test_cameras_and_zones_get_separate_alerts(handler: AlertingHandler) -> None:
    outputs = feed(
        handler,
        [
            make_event(T0, zone="restricted"),
            make_event(T0 + 1, zone="roof"),
            make_event(T0 + 2, camera="cam-yard"),
        ],
    )

    alerts = [codec.decode_alert(o.value) for o in outputs]
    assert len({a.alert_id for a in alerts}) == 3
    assert [o.key for o in outputs] == [CAMERA, CAMERA, "cam-yard"]
    assert all(a.count == 1 for a in alerts)


def test_malformed_event_raises_from_decode(handler: AlertingHandler) -> None:
    with pytest.raises(codec.DecodeError):
        handler.decode(Message(EVENTS, 0, 0, CAMERA.encode(), b"\xff\xff garbage"))


# -- AlertDesk: verdicts and the outbox -----------------------------------------------------------


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


class FakeContext:
    """Just enough of ``grpc.ServicerContext``: ``abort`` raises, as the real one does."""

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


class RecordingPublisher:
    """Keeps what was published; ``flush`` raises DeliveryError while ``broker_down``."""

    def __init__(self, broker_down: bool = False) -> None:
        self.broker_down = broker_down
        self.published: list[Output] = []
        self.flushes = 0

    def publish(self, output: Output) -> None:
        self.published.append(output)

    def flush(self, timeout_s: float) -> None:
        self.flushes += 1
        if self.broker_down:
            raise DeliveryError("1 message(s) not delivered: broker transport failure")

    def close(self) -> None:
        return None


def raised_alert_id(book: AlertBook, lock: threading.Lock) -> str:
    AlertingHandler(book, lock).handle(make_event(T0), message_of(make_event(T0)))
    (alert,) = book.alerts()
    return alert.alert_id


def desk(
    publisher: RecordingPublisher,
) -> tuple[AlertDeskServicer, AlertBook, Outbox, str]:
    book, lock, outbox = AlertBook(rules()), threading.Lock(), Outbox()
    alert_id = raised_alert_id(book, lock)
    servicer = AlertDeskServicer(book, lock, publisher, outbox, clock=lambda: DECIDED_AT)
    return servicer, book, outbox, alert_id


def request(
    alert_id: str, reason: str = "intruder seen on the frame"
) -> services_pb2.VerdictRequest:
    return services_pb2.VerdictRequest(alert_id=alert_id, operator="alice", reason=reason)


def test_verdict_is_published_when_the_broker_is_up() -> None:
    publisher = RecordingPublisher()
    servicer, book, outbox, alert_id = desk(publisher)

    reply = servicer.Confirm(request(alert_id), FakeContext())

    assert reply.status == alerts_pb2.ALERT_STATUS_CONFIRMED
    assert book.get(alert_id).status is AlertStatus.CONFIRMED
    assert [o.topic for o in publisher.published] == [VERDICTS, ALERTS]
    assert outbox.drain() == []


def test_verdict_recorded_and_kept_in_outbox_when_delivery_fails() -> None:
    publisher = RecordingPublisher(broker_down=True)
    servicer, book, outbox, alert_id = desk(publisher)

    reply = servicer.Confirm(request(alert_id), FakeContext())

    # The person's decision stands, whatever the broker does.
    assert reply.alert_id == alert_id
    assert reply.status == alerts_pb2.ALERT_STATUS_CONFIRMED
    assert book.get(alert_id).status is AlertStatus.CONFIRMED
    assert publisher.flushes == 1

    waiting = outbox.drain()
    assert [(o.topic, o.key) for o in waiting] == [(VERDICTS, CAMERA), (ALERTS, CAMERA)]
    verdict = codec.decode_verdict(waiting[0].value)
    assert verdict.alert_id == alert_id
    assert verdict.action is VerdictAction.CONFIRM
    assert verdict.operator == "alice"
    assert verdict.reason == "intruder seen on the frame"
    assert verdict.decided_at == DECIDED_AT
    alert = codec.decode_alert(waiting[1].value)
    assert alert.alert_id == alert_id
    assert alert.status is AlertStatus.CONFIRMED

    assert outbox.drain() == []  # handed over once


def test_outbox_accumulates_several_failed_verdicts_in_order() -> None:
    publisher = RecordingPublisher(broker_down=True)
    servicer, book, outbox, alert_id = desk(publisher)

    servicer.Acknowledge(request(alert_id, reason=""), FakeContext())
    servicer.Dismiss(request(alert_id, reason="a shadow"), FakeContext())

    waiting = outbox.drain()
    verdicts = [codec.decode_verdict(o.value) for o in waiting if o.topic == VERDICTS]
    assert [v.action for v in verdicts] == [VerdictAction.ACKNOWLEDGE, VerdictAction.DISMISS]
    assert len(waiting) == 4
    assert book.get(alert_id).status is AlertStatus.DISMISSED
    assert outbox.drain() == []


def test_refused_verdict_changes_nothing_and_publishes_nothing() -> None:
    publisher = RecordingPublisher()
    servicer, book, outbox, alert_id = desk(publisher)

    with pytest.raises(Aborted) as excinfo:
        servicer.Confirm(request(alert_id, reason="  "), FakeContext())
    assert excinfo.value.code is grpc.StatusCode.INVALID_ARGUMENT

    with pytest.raises(Aborted) as excinfo:
        servicer.Confirm(request("no-such-alert"), FakeContext())
    assert excinfo.value.code is grpc.StatusCode.NOT_FOUND

    assert book.get(alert_id).status is AlertStatus.RAISED
    assert publisher.published == []
    assert outbox.drain() == []


def test_list_alerts_shows_open_alerts() -> None:
    servicer, _, _, alert_id = desk(RecordingPublisher())

    reply = servicer.ListAlerts(services_pb2.ListAlertsRequest(), FakeContext())

    assert [a.alert_id for a in reply.alerts] == [alert_id]
