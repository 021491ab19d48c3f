"""The alerting service in the single-process mode, as `vigie demo` runs it: the stage runner
over the in-memory bus, the alert books kept through the state port, the webhooks stage and the
watch feed; and the stream application's driver running the same message contract.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.alerting.service_process import wait_for
from vigie_alerting.books import AlertBooks
from vigie_alerting.engine import AlertEngine
from vigie_alerting.handler import AlertingHandler
from vigie_alerting.policy_file import LoadedPolicy, PolicyFile
from vigie_alerting.service import InProcessAlertingService
from vigie_alerting.settings import AlertingSettings
from vigie_alerting.webhooks import verify
from vigie_core.ids import stable_id
from vigie_core.types import Alert, Event, EventKind, FrameRef
from vigie_runtime import codec
from vigie_runtime.broker import free_port
from vigie_runtime.bus import Message, Output
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings, KafkaSettings
from vigie_runtime.topics import ALERTING_STATE, ALERTS, DEAD_LETTERS, EVENTS

T0 = time.time() - 600  # event times run to T0 + 20: in the past, as stages require
SECRET = "hook-secret"


def policy(webhook_port: int | None = None) -> dict[str, Any]:
    hooks = []
    if webhook_port is not None:
        hooks.append(
            {
                "name": "soc",
                "url": f"http://127.0.0.1:{webhook_port}/hook",
                "secret_env": "VIGIE_TEST_HOOK",
                "attempts": 2,
                "backoff_s": 0.1,
            }
        )
    cameras = {f"cam-{i}": {"zone_intrusion": {"severity": "high"}} for i in range(6)}
    return {"version": "unit-1", "cooldown_s": 60, "cameras": cameras, "webhooks": hooks}


def intrusion(camera: str, t: float, track: str) -> Event:
    frame = FrameRef(camera, int(t * 10), t, 640, 480)
    kind = EventKind.ZONE_INTRUSION
    return Event(stable_id(camera, kind, t, track), kind, frame, "lawn", "person", (track,))


def send(bus: InMemoryBus, *events: Event) -> None:
    for e in events:
        bus.append(Output(EVENTS, e.camera_id, codec.encode(e)))


def latest_alerts(bus: InMemoryBus) -> dict[str, Alert]:
    alerts = [codec.decode_alert(m.value) for m in bus.messages(ALERTS)]
    return {a.alert_id: a for a in alerts}


class Running:
    """One service instance on ``bus``, in its thread, until stopped."""

    def __init__(self, bus: InMemoryBus, **settings: Any) -> None:
        config = AlertingSettings(
            grpc=GrpcSettings(host="127.0.0.1", port=0, plaintext=True), tick_s=0.2, **settings
        )
        self.service = InProcessAlertingService(config, bus, Health())
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.service.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(20)
        assert not self.thread.is_alive()


@pytest.fixture
def bus() -> InMemoryBus:
    return InMemoryBus()


def test_a_restart_keeps_every_open_alert_and_a_replay_raises_no_duplicate(
    bus: InMemoryBus,
) -> None:
    burst = [intrusion(f"cam-{i % 6}", T0 + i, f"t{i}") for i in range(12)]
    first = Running(bus, policy=policy())
    send(bus, *burst)
    wait_for(
        "two per camera", lambda: sorted(a.count for a in latest_alerts(bus).values()) == [2] * 6
    )
    before = {a.alert_id: a.count for a in first.service.handler.alerts(None, False)}
    first.close()
    assert len(before) == 6
    assert {m.camera_id for m in bus.messages(ALERTING_STATE)} == {f"cam-{i}" for i in range(6)}

    second = Running(bus, policy=policy())
    try:
        # Restored from the state topic: the same open alerts, the same counts.
        listed = wait_for("restored", lambda: second.service.handler.alerts(None, False) or None)
        assert {a.alert_id: a.count for a in listed} == before
        published = len(bus.messages(ALERTS))
        send(bus, *burst)  # a replay: counted already
        send(bus, intrusion("cam-0", T0 + 20, "late"))  # merges into cam-0's alert
        wait_for("merge", lambda: max(a.count for a in latest_alerts(bus).values()) == 3)
        time.sleep(0.5)
        assert len(bus.messages(ALERTS)) == published + 1  # only the merge was published
        assert set(latest_alerts(bus)) == set(before)
    finally:
        second.close()


def test_an_engine_failure_is_dead_lettered_with_its_reason_by_the_stage_runner(
    bus: InMemoryBus,
) -> None:
    running = Running(bus, policy=policy())
    engine = running.service.engine
    real = engine.on_event

    def on_event(event: Event, now: float) -> list[Output]:
        if event.camera_id == "cam-5":
            raise RuntimeError("the rule table is corrupt")
        return real(event, now)

    engine.on_event = on_event  # type: ignore[method-assign]
    try:
        send(bus, intrusion("cam-5", T0, "x"), intrusion("cam-1", T0, "y"))
        (letter,) = wait_for("dead letter", lambda: bus.messages(DEAD_LETTERS))
        assert letter.key == b"cam-5"
        assert letter.headers["vigie.stage"] == b"alerting"
        assert letter.headers["vigie.reason"] == (
            b"processing: RuntimeError: the rule table is corrupt"
        )
        wait_for("the stage went on", lambda: latest_alerts(bus))
    finally:
        running.close()


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[Output] = []

    async def publish(self, outputs: list[Output]) -> None:
        self.published.extend(outputs)


def test_an_engine_failure_is_dead_lettered_with_its_reason_by_the_stream_application(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigie_alerting.streaming import AlertStreams

    monkeypatch.chdir(tmp_path)  # the application creates its data folder under var/
    loaded = LoadedPolicy(file=PolicyFile.model_validate(policy()), source="t", sha256="0")
    books = AlertBooks()
    engine = AlertEngine(loaded, books)
    handler = AlertingHandler(engine, books, time.time)
    streams = AlertStreams(
        "vigie-alerting", KafkaSettings(), handler, books, DEAD_LETTERS, 6, "127.0.0.1:1"
    )
    publisher = RecordingPublisher()
    streams.stage.publisher = publisher  # type: ignore[assignment]

    def broken(event: Event, now: float) -> list[Output]:
        raise RuntimeError("the rule table is corrupt")

    engine.on_event = broken  # type: ignore[method-assign]
    value = codec.encode(intrusion("cam-5", T0, "x"))
    asyncio.run(streams.stage.process(Message(EVENTS, 3, 17, b"cam-5", value)))
    (letter,) = publisher.published
    assert (letter.topic, letter.key, letter.value) == (DEAD_LETTERS, "cam-5", value)
    assert letter.headers["vigie.stage"] == "alerting"
    assert letter.headers["vigie.reason"] == "processing: RuntimeError: the rule table is corrupt"
    assert letter.headers["vigie.source.offset"] == "17"


class Receiver:
    """An HTTP receiver on loopback that checks signatures and keeps what it accepted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.accepted: list[tuple[str, bool]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = verify(
                    SECRET.encode(),
                    self.headers["X-Vigie-Timestamp"],
                    body,
                    self.headers["X-Vigie-Signature"],
                )
                receiver.accepted.append((self.headers["X-Vigie-Delivery"], signed))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_webhooks_are_delivered_in_the_single_process(
    bus: InMemoryBus, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_TEST_HOOK", SECRET)
    running = Running(bus, policy=policy(receiver.port))
    try:
        send(bus, intrusion("cam-2", T0, "a"), intrusion("cam-2", T0 + 1, "b"))
        wait_for("two deliveries", lambda: len(receiver.accepted) == 2)
        assert all(signed for _, signed in receiver.accepted)
        assert len({d for d, _ in receiver.accepted}) == 2  # one per alert state
    finally:
        running.close()


def test_a_failed_webhook_delivery_is_dead_lettered_with_the_receiver_and_delivery(
    bus: InMemoryBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_TEST_HOOK", SECRET)
    running = Running(bus, policy=policy(free_port()))  # nobody listens there
    try:
        send(bus, intrusion("cam-3", T0, "a"))
        (letter,) = wait_for("dead letter", lambda: bus.messages(DEAD_LETTERS), 30)
        assert letter.headers["vigie.stage"] == b"alerting-webhooks"
        assert letter.headers["vigie.webhook"] == b"soc"
        assert letter.headers["vigie.delivery"]
        assert letter.headers["vigie.source.topic"] == ALERTS.encode()
        assert letter.headers["vigie.reason"].startswith(b"webhook soc: gave up after 2")
    finally:
        running.close()


def foreign_alert(camera: str, t: float) -> Alert:
    """An alert as another replica would publish it."""
    loaded = LoadedPolicy(file=PolicyFile.model_validate(policy()), source="t", sha256="0")
    (raised, *_) = AlertEngine(loaded, {}).on_event(intrusion(camera, t, "w"), t)
    return codec.decode_alert(raised.value)


def test_the_watch_feed_follows_the_alerts_topic_from_the_replica_start(
    bus: InMemoryBus,
) -> None:
    old = foreign_alert("cam-4", T0 - 600)
    bus.append(Output(ALERTS, old.camera_id, codec.encode(old)))
    time.sleep(0.01)
    running = Running(bus, policy=policy())
    try:
        # The feed reads from the end of the topic once it has joined: wait until it has.
        wait_for("the replica ready", running.service.health.ready)
        with running.service.hub.subscribe() as changes:
            # Published elsewhere: the feed reads the topic, not this replica's engine.
            alert = foreign_alert("cam-4", T0)
            bus.append(Output(ALERTS, alert.camera_id, codec.encode(alert)))
            seen = changes.get(timeout=10)
            assert seen is not None and seen.alert_id == alert.alert_id  # not the old one
    finally:
        running.close()
