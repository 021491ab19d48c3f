"""The alerting service as a process on the real broker: policy, merging, routing, webhooks,
escalation, the authenticated desk, and a SIGKILL restart that loses and duplicates nothing.

One service process serves the module; each test uses its own cameras so they do not interfere.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import grpc
import pytest

from tests.integration.alerting.service_process import (
    AlertingProcess,
    FlakyReceiver,
    as_caller,
    wait_for,
)
from vigie.v1 import alerts_pb2, cameras_pb2, services_pb2
from vigie_core.ids import stable_id
from vigie_core.types import Alert, AlertStatus, Event, EventKind, FrameRef, Severity
from vigie_runtime import codec
from vigie_runtime.bus import Output
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import ALERTS, AUDIT, CAMERA_STATUS, DEAD_LETTERS, EVENTS, VERDICTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SECURITY = "vigie.alerts.security.v1"


def policy(receiver_port: int) -> dict[str, object]:
    return {
        "version": "it-1",
        "cooldown_s": 60,
        "cameras": {
            cam: {"zone_intrusion": {"severity": severity}}
            for cam, severity in [("gate", "high"), ("dock", "medium"), ("hall", "high")]
        }
        | {"yard": {"camera_offline": {"severity": "high"}}},
        "escalation": {"after_s": {"medium": 2}},
        "routes": [{"topic": SECURITY, "min_severity": "high"}],
        "webhooks": [
            {
                "name": "soc",
                "url": f"http://127.0.0.1:{receiver_port}/hook",
                "secret_env": "VIGIE_WEBHOOK_SOC",
                "cameras": ["gate"],
                "timeout_s": 2,
                "attempts": 6,
                "backoff_s": 0.2,
            }
        ],
    }


@pytest.fixture(scope="module")
def receiver() -> Iterator[FlakyReceiver]:
    flaky = FlakyReceiver(failures=2)
    flaky.start()
    yield flaky
    flaky.stop()


@pytest.fixture(scope="module")
def bus(bootstrap: str) -> KafkaBus:
    return KafkaBus(KafkaSettings(bootstrap_servers=bootstrap, single_record_batches=True))


@pytest.fixture(scope="module")
def service(
    bootstrap: str, receiver: FlakyReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertingProcess]:
    process = AlertingProcess(bootstrap, tmp_path_factory.mktemp("alerting"), policy(receiver.port))
    process.start()
    yield process
    process.stop()


def intrusion(
    camera: str, t: float, track: str, kind: EventKind = EventKind.ZONE_INTRUSION
) -> Event:
    frame = FrameRef(camera, int(t * 10), t, 768, 432)
    return Event(stable_id(camera, kind, t, track), kind, frame, "lawn", "person", (track,))


def send(bus: KafkaBus, *events: Event) -> None:
    publisher = bus.publisher("test")
    for event in events:
        publisher.publish(Output(EVENTS, event.camera_id, codec.encode(event)))
    publisher.flush(10)


def alerts_of(bus: KafkaBus, camera: str, topic: str = ALERTS) -> list[Alert]:
    found = [codec.decode_alert(m.value) for m in bus.read_all(topic, timeout_s=20)]
    return [a for a in found if a.camera_id == camera]


def journal(bus: KafkaBus, camera: str) -> list[object]:
    records = [codec.decode_audit(m.value) for m in bus.read_all(AUDIT, timeout_s=20)]
    return [r for r in records if r.camera_id == camera]


T0 = time.time() - 3600  # event times run to T0 + 2010: all in the past, as stages require


def test_a_burst_becomes_one_alert_routed_and_delivered_once_per_delivery_id(
    service: AlertingProcess, bus: KafkaBus, receiver: FlakyReceiver
) -> None:
    send(bus, *(intrusion("gate", T0 + i, f"gate/{i}") for i in range(5)))
    alerts = wait_for(
        "five merges",
        lambda: [a for a in alerts_of(bus, "gate") if a.count == 5] and alerts_of(bus, "gate"),
    )
    assert len({a.alert_id for a in alerts}) == 1
    assert [a.count for a in alerts] == [1, 2, 3, 4, 5]
    assert len(alerts_of(bus, "gate", SECURITY)) == 5  # high: the security audience gets it too
    # Every alert state is one delivery; the receiver failed each twice, then took it once.
    wait_for("five deliveries", lambda: len(receiver.accepted) == 5)
    delivered = [d for d, _ in receiver.accepted]
    assert len(set(delivered)) == 5
    assert all(receiver.tries[d] == 3 for d in delivered)
    assert sorted(body["data"]["count"] for _, body in receiver.accepted) == [1, 2, 3, 4, 5]
    assert receiver.bad_signatures == 0


def test_a_receiver_restart_loses_no_delivery(
    service: AlertingProcess, bus: KafkaBus, receiver: FlakyReceiver
) -> None:
    receiver.stop()
    before = len(receiver.accepted)
    send(bus, intrusion("gate", T0 + 1000, "gate/late"))  # a new alert: past the cooldown
    time.sleep(1.0)  # the first attempts meet a closed port
    receiver.start()
    wait_for("delivery after the restart", lambda: len(receiver.accepted) == before + 1, 60)
    assert receiver.accepted[-1][1]["data"]["count"] == 1


def test_a_kind_the_policy_does_not_allow_raises_nothing_and_leaves_a_journal_entry(
    service: AlertingProcess, bus: KafkaBus
) -> None:
    send(bus, intrusion("hall", T0, "hall/9", EventKind.LOITERING))
    records = wait_for(
        "refusal journaled",
        lambda: [r for r in journal(bus, "hall") if r.action == "alert.refused"],
    )
    assert records[0].reason == "loitering is not an authorised alert at camera hall"
    assert records[0].details["policy_version"] == "it-1"
    assert alerts_of(bus, "hall") == []


def test_an_unacknowledged_alert_escalates_and_a_dismissal_carries_who_and_why(
    service: AlertingProcess, bus: KafkaBus
) -> None:
    send(bus, intrusion("dock", T0, "dock/1"))
    escalated = wait_for(
        "escalation", lambda: [a for a in alerts_of(bus, "dock") if a.escalation_level >= 1]
    )
    assert escalated[0].severity is Severity.HIGH  # medium, unacknowledged for 2 s
    desk = service.desk()
    with pytest.raises(grpc.RpcError) as refused:
        desk.ListAlerts(services_pb2.ListAlertsRequest(camera_id="dock"))
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    (open_alert,) = desk.ListAlerts(
        services_pb2.ListAlertsRequest(camera_id="dock"), metadata=as_caller("alice-token")
    ).alerts
    request = services_pb2.VerdictRequest(alert_id=open_alert.alert_id, reason="a delivery van")
    with pytest.raises(grpc.RpcError) as refused:
        desk.Dismiss(request, metadata=as_caller("dpo-token"))
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    dismissed = desk.Dismiss(request, metadata=as_caller("alice-token"))
    assert dismissed.status == alerts_pb2.ALERT_STATUS_DISMISSED
    verdicts = wait_for(
        "verdict published",
        lambda: [
            v
            for v in (codec.decode_verdict(m.value) for m in bus.read_all(VERDICTS, timeout_s=20))
            if v.alert_id == open_alert.alert_id
        ],
    )
    assert [(v.operator, v.role, v.reason) for v in verdicts] == [
        ("alice", "operator", "a delivery van")
    ]
    actions = [r.action for r in journal(bus, "dock")]
    assert actions == ["alert.raised", "alert.escalated", "verdict.dismiss"]
    assert alerts_of(bus, "dock")[-1].status is AlertStatus.DISMISSED


def test_a_malformed_event_goes_to_dead_letters_with_its_reason(
    service: AlertingProcess, bus: KafkaBus
) -> None:
    publisher = bus.publisher("test")
    publisher.publish(Output(EVENTS, "hall", b"\x00not a protobuf event"))
    publisher.flush(10)
    letters = wait_for(
        "dead letter",
        lambda: [m for m in bus.read_all(DEAD_LETTERS, timeout_s=20) if m.key == b"hall"],
    )
    assert letters[0].value == b"\x00not a protobuf event"
    assert letters[0].headers["vigie.stage"] == b"alerting"
    assert letters[0].headers["vigie.reason"]
    assert service.ready()


def test_a_killed_service_resumes_with_every_open_alert_and_its_dedup(
    service: AlertingProcess, bus: KafkaBus
) -> None:
    burst = [intrusion("hall", T0 + 2000 + i, f"hall/{i}") for i in range(3)]
    send(bus, *burst)
    wait_for("burst merged", lambda: [a for a in alerts_of(bus, "hall") if a.count == 3])
    before = {a.alert_id for a in alerts_of(bus, "hall")}
    service.kill(signal.SIGKILL)  # no clean shutdown: offsets and state as they happened to be
    service.start()
    desk = service.desk()
    listed = desk.ListAlerts(
        services_pb2.ListAlertsRequest(), metadata=as_caller("alice-token")
    ).alerts
    hall = {a.alert_id: a.count for a in listed if a.camera_id == "hall"}
    assert hall == {alert_id: 3 for alert_id in before}  # not lost, not duplicated, same count
    # The same events again (a replay) change nothing; a new one merges into the same alert.
    send(bus, *burst)
    send(bus, intrusion("hall", T0 + 2010, "hall/new"))
    merged = wait_for(
        "merge after restart", lambda: [a for a in alerts_of(bus, "hall") if a.count == 4]
    )
    assert {a.alert_id for a in alerts_of(bus, "hall")} == set(before)
    assert merged[-1].count == 4
    time.sleep(2)
    assert max(a.count for a in alerts_of(bus, "hall")) == 4  # the replay counted nothing
    # The other cameras' open alerts came back too: the gate's two, still waiting for a person.
    gate = sorted((a.count, a.status) for a in listed if a.camera_id == "gate")
    assert gate == [(1, alerts_pb2.ALERT_STATUS_RAISED), (5, alerts_pb2.ALERT_STATUS_RAISED)]


def test_a_camera_whose_capture_falls_silent_raises_camera_offline(
    service: AlertingProcess, bus: KafkaBus
) -> None:
    """Capture publishes each camera's status as a heartbeat; when it stops (a killed capture
    cannot say so itself), the alerting service raises camera_offline after camera_silence_s
    (3 s here), once."""
    now = time.time()
    heartbeat = cameras_pb2.CameraStatus(
        camera_id="yard",
        state=cameras_pb2.CAMERA_STATE_ONLINE,
        since=codec.time_to_proto(now - 60),
        reported_at=codec.time_to_proto(now),
        frames_per_second=10.0,
    )
    publisher = bus.publisher("test")
    publisher.publish(Output(CAMERA_STATUS, "yard", heartbeat.SerializeToString()))
    publisher.flush(10)
    alerts = wait_for("camera_offline", lambda: alerts_of(bus, "yard"))
    [alert] = alerts
    assert alert.kind == EventKind.CAMERA_OFFLINE and alert.severity == Severity.HIGH
    assert "no status from capture" in alert.reason, alert.reason
    time.sleep(4)  # silent still: no second alert
    assert len({a.alert_id for a in alerts_of(bus, "yard")}) == 1
