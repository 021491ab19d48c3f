"""AlertDesk with 200 WatchAlerts streams open: ListAlerts and health still answer at once.

The real alerting service (single-process mode, the desk server as ``vigie alerting`` builds
it) on loopback; 25 operators each hold the 8 streams one caller may hold. A ninth stream of
one caller, and a stream beyond the replica's total, are refused with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.alerting.service_process import wait_for
from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_alerting.service import InProcessAlertingService
from vigie_alerting.settings import AlertingSettings
from vigie_core.ids import stable_id
from vigie_core.types import Event, EventKind, FrameRef
from vigie_runtime import codec
from vigie_runtime.auth import digest
from vigie_runtime.bus import Output
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings
from vigie_runtime.topics import EVENTS

pytestmark = pytest.mark.integration

CALLERS, PER_CALLER = 25, 8  # 200 streams, each caller at its bound
SPARE = 4  # streams the replica serves beyond the 200; the next one is refused
SERVING = health_pb2.HealthCheckResponse.SERVING


def token(i: int) -> str:
    return f"watch-token-{i}"


def metadata(i: int) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token(i)}")]


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[int, InMemoryBus]]:
    tokens = tmp_path / "tokens.yaml"
    entries = [
        {"sha256": digest(token(i)), "operator": f"op-{i}", "role": "operator"}
        for i in range(CALLERS + 1)
    ]
    tokens.write_text(yaml.safe_dump({"tokens": entries}))
    policy = {"version": "streams-1", "default": {"zone_intrusion": {"severity": "high"}}}
    settings = AlertingSettings(
        grpc=GrpcSettings(host="127.0.0.1", port=0, plaintext=True),
        tokens_file=tokens,
        policy=policy,
        tick_s=0.2,
        watch_streams_per_caller=PER_CALLER,
        watch_streams_max=CALLERS * PER_CALLER + SPARE,
    )
    bus = InMemoryBus()
    service = InProcessAlertingService(settings, bus, Health())
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield service.grpc.port, bus
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def raise_alert(bus: InMemoryBus) -> None:
    t = time.time()
    frame = FrameRef("cam-1", 1, t, 640, 480)
    kind = EventKind.ZONE_INTRUSION
    event = Event(stable_id("cam-1", kind, t, "a"), kind, frame, "lawn", "person", ("a",))
    bus.append(Output(EVENTS, "cam-1", codec.encode(event)))


def latest_status(stream: Any) -> str:
    """The next change on ``stream`` (the raise itself may come once more first: a stream
    subscribes before it takes the snapshot, so a change in between is sent twice)."""
    for _ in range(3):
        status = codec.alert_from_proto(next(stream)).status.value
        if status != "open":
            return str(status)
    return "open"


def timed(call: Any) -> Any:
    started = time.monotonic()
    result = call()
    assert time.monotonic() - started < 1.0
    return result


def test_200_streams_leave_list_alerts_and_health_answering_within_a_second(
    desk: tuple[int, InMemoryBus],
) -> None:
    port, bus = desk
    address = f"127.0.0.1:{port}"
    channels = [grpc.insecure_channel(address) for _ in range(CALLERS + 2)]
    desks = [services_pb2_grpc.AlertDeskStub(c) for c in channels]
    health = health_pb2_grpc.HealthStub(channels[-1])
    streams: list[Any] = []
    try:
        check = health_pb2.HealthCheckRequest
        wait_for("serving", lambda: health.Check(check(), timeout=1).status == SERVING)
        raise_alert(bus)
        listed = wait_for(
            "alert raised",
            lambda: desks[-1].ListAlerts(services_pb2.ListAlertsRequest(), metadata=metadata(0)),
        )
        (alert,) = listed.alerts

        for i in range(CALLERS):
            for _ in range(PER_CALLER):
                streams.append(
                    desks[i].WatchAlerts(services_pb2.WatchAlertsRequest(), metadata=metadata(i))
                )
        # Every stream is served: each has sent the open alert.
        assert {next(s).alert_id for s in streams} == {alert.alert_id}
        assert len(streams) == 200

        for _ in range(5):
            reply = timed(
                lambda: desks[-1].ListAlerts(
                    services_pb2.ListAlertsRequest(), metadata=metadata(3), timeout=1
                )
            )
            assert [a.alert_id for a in reply.alerts] == [alert.alert_id]
            for name in ("", "vigie.v1.AlertDesk"):
                status = timed(lambda n=name: health.Check(check(service=n), timeout=1).status)
                assert status == SERVING

        # A ninth stream of one caller is refused; so is one beyond the replica's total.
        with pytest.raises(grpc.RpcError) as refused:
            next(desks[0].WatchAlerts(services_pb2.WatchAlertsRequest(), metadata=metadata(0)))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "op-0" in (refused.value.details() or "")
        spare = desks[CALLERS]
        for _ in range(SPARE):
            streams.append(
                spare.WatchAlerts(services_pb2.WatchAlertsRequest(), metadata=metadata(CALLERS))
            )
            next(streams[-1])
        with pytest.raises(grpc.RpcError) as refused:
            next(spare.WatchAlerts(services_pb2.WatchAlertsRequest(), metadata=metadata(CALLERS)))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        # The streams are live: a verdict reaches every one of them.
        timed(
            lambda: desks[-1].Acknowledge(
                services_pb2.VerdictRequest(alert_id=alert.alert_id),
                metadata=metadata(5),
                timeout=1,
            )
        )
        assert {latest_status(s) for s in streams} == {"acknowledged"}
    finally:
        for s in streams:
            s.cancel()
        for c in channels:
            c.close()
