"""Two alerting replicas on the real broker share the cameras, and either one's AlertDesk answers
for all of them: lists, verdicts (applied once, by the owner) and live changes; when one is
killed the other takes its cameras over with every open alert, none lost, none duplicated.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from tests.integration.alerting.service_process import AlertingProcess, as_caller, wait_for
from vigie.v1 import alerts_pb2, services_pb2
from vigie_core.ids import stable_id
from vigie_core.types import Event, EventKind, FrameRef
from vigie_runtime import codec
from vigie_runtime.bus import Output
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import AUDIT, EVENTS, VERDICTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

# Spread over the six partitions of the events topic (murmur2 of the key).
CAMERAS = ["gate", "cam-5", "cam-7", "cam-0", "cam-4", "cam-2", "cam-6", "roof"]
ALICE = as_caller("alice-token")
T0 = time.time() - 600  # event times in the past, as stages require


def policy() -> dict[str, object]:
    return {
        "version": "replicas-1",
        "cooldown_s": 60,
        "cameras": {cam: {"zone_intrusion": {"severity": "high"}} for cam in CAMERAS},
    }


def intrusion(camera: str, t: float, track: str) -> Event:
    frame = FrameRef(camera, int(t * 10), t, 768, 432)
    kind = EventKind.ZONE_INTRUSION
    return Event(stable_id(camera, kind, t, track), kind, frame, "lawn", "person", (track,))


def send(bus: KafkaBus, *events: Event) -> None:
    publisher = bus.publisher("test")
    for event in events:
        publisher.publish(Output(EVENTS, event.camera_id, codec.encode(event)))
    publisher.flush(10)


@pytest.fixture(scope="module")
def bus(bootstrap: str) -> KafkaBus:
    return KafkaBus(KafkaSettings(bootstrap_servers=bootstrap, single_record_batches=True))


@pytest.fixture(scope="module")
def replicas(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[AlertingProcess]]:
    started = []
    try:
        for name in ("a", "b"):
            process = AlertingProcess(bootstrap, tmp_path_factory.mktemp(name), policy())
            process.start()
            started.append(process)
        yield started
    finally:
        for process in started:
            process.stop()


def listed(process: AlertingProcess, camera: str = "", forwarded: bool = False) -> list:
    """ListAlerts; ``forwarded``: as another replica asks, so only what it owns."""
    metadata = [*ALICE, ("x-vigie-forwarded", "1")] if forwarded else ALICE
    request = services_pb2.ListAlertsRequest(camera_id=camera)
    return list(process.desk().ListAlerts(request, metadata=metadata, timeout=15).alerts)


def owned(process: AlertingProcess) -> set[str]:
    return {a.camera_id for a in listed(process, forwarded=True)}


def settled(replicas: list[AlertingProcess]) -> bool:
    """Both replicas own some cameras, and together every camera, once."""
    try:
        a, b = (owned(p) for p in replicas)
    except grpc.RpcError:
        return False
    return bool(a) and bool(b) and not (a & b) and a | b == set(CAMERAS)


@pytest.fixture(scope="module")
def raised(replicas: list[AlertingProcess], bus: KafkaBus) -> dict[str, str]:
    """One open alert per camera; camera -> alert id."""
    send(bus, *(intrusion(cam, T0, f"{cam}/1") for cam in CAMERAS))
    wait_for("both replicas share the cameras", lambda: settled(replicas), 120)
    alerts = {a.camera_id: a.alert_id for a in listed(replicas[0])}
    assert set(alerts) == set(CAMERAS)
    return alerts


def test_either_replica_lists_the_alerts_of_every_camera(
    replicas: list[AlertingProcess], raised: dict[str, str]
) -> None:
    for process in replicas:
        alerts = listed(process)
        assert {a.camera_id: a.alert_id for a in alerts} == raised
        order = [(a.first_seen.ToNanoseconds(), a.alert_id) for a in alerts]
        assert order == sorted(order, reverse=True)
        for camera in CAMERAS:  # one camera: asked of its owner
            assert [a.alert_id for a in listed(process, camera)] == [raised[camera]]


def test_a_verdict_given_at_the_replica_that_does_not_own_the_camera_is_applied_once(
    replicas: list[AlertingProcess], raised: dict[str, str], bus: KafkaBus
) -> None:
    a, b = replicas
    camera = sorted(owned(b))[0]
    alert_id = raised[camera]
    request = services_pb2.VerdictRequest(alert_id=alert_id, reason="a gardener")
    confirmed = a.desk().Confirm(request, metadata=[*ALICE, ("x-request-id", "req-42")], timeout=15)
    assert confirmed.status == alerts_pb2.ALERT_STATUS_CONFIRMED
    with pytest.raises(grpc.RpcError) as again:  # decided: the owner refuses a second verdict
        a.desk().Dismiss(request, metadata=ALICE, timeout=15)
    assert again.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    time.sleep(2)
    verdicts = [
        v
        for v in (codec.decode_verdict(m.value) for m in bus.read_all(VERDICTS, timeout_s=20))
        if v.alert_id == alert_id
    ]
    assert [(v.operator, v.action.value, v.reason) for v in verdicts] == [
        ("alice", "confirm", "a gardener")
    ]
    records = [
        r
        for r in (codec.decode_audit(m.value) for m in bus.read_all(AUDIT, timeout_s=20))
        if r.subject == alert_id and r.action.startswith("verdict.")
    ]
    assert [(r.action, r.request_id) for r in records] == [("verdict.confirm", "req-42")]
    assert listed(b, camera, forwarded=True) == []  # the owner's queue: open alerts only


def test_either_replica_watches_the_cameras_it_does_not_own(
    replicas: list[AlertingProcess], raised: dict[str, str], bus: KafkaBus
) -> None:
    for watcher, other in (replicas, replicas[::-1]):
        camera = sorted(owned(other))[-1]
        changes: queue.Queue[alerts_pb2.Alert] = queue.Queue()
        call = watcher.desk().WatchAlerts(services_pb2.WatchAlertsRequest(), metadata=ALICE)

        def read(call: grpc.Call = call, changes: queue.Queue = changes) -> None:
            try:
                for alert in call:
                    changes.put(alert)
            except grpc.RpcError:
                return

        threading.Thread(target=read, daemon=True).start()
        first = changes.get(timeout=15)  # the queue first: open alerts of every camera
        assert first.alert_id in raised.values()
        time.sleep(1)
        send(bus, intrusion(camera, T0 + 5 + len(camera), f"{camera}/watch"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            alert = changes.get(timeout=30)
            if alert.camera_id == camera and alert.count >= 2:
                break
        else:
            raise AssertionError(f"{watcher.grpc_port} never saw {camera}'s merge")
        call.cancel()


def test_a_killed_replica_s_cameras_move_to_the_other_with_every_open_alert(
    replicas: list[AlertingProcess], raised: dict[str, str]
) -> None:
    a, b = replicas
    before = {(x.alert_id, x.count, x.status) for x in listed(a)}
    b.kill(signal.SIGKILL)

    def took_over() -> bool:
        """``a`` alone, answering from its own state, holds every open alert as it was."""
        try:
            return {(x.alert_id, x.count, x.status) for x in listed(a, forwarded=True)} == before
        except grpc.RpcError:
            return False

    wait_for("the other replica took every camera over", took_over, 120)
    alerts = listed(a)
    assert len(alerts) == len({x.alert_id for x in alerts}) == len(before)  # none duplicated
