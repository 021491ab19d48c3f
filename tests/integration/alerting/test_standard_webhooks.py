"""Delivered webhooks verify with the Standard Webhooks reference library (``standardwebhooks``).

A real HTTP receiver on loopback verifies every request as a receiver would, with
``Webhook(secret).verify(body, headers)``; the senders are the real ones: the webhook sender
over aiohttp, and the whole alerting process on the real broker. A tampered body, a stale
timestamp or a foreign key fail verification.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Reference
from standardwebhooks.webhooks import WebhookVerificationError

from tests.integration.alerting.service_process import AlertingProcess, wait_for
from vigie_alerting.policy_file import WebhookConfig
from vigie_alerting.webhooks import Failure, Webhook, WebhookSender, delivery_id, parse_secret
from vigie_core.ids import stable_id
from vigie_core.types import Alert, AlertStatus, Event, EventKind, FrameRef, Severity
from vigie_runtime import codec
from vigie_runtime.broker import free_port
from vigie_runtime.bus import Output
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import EVENTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
OLD_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


@dataclass(frozen=True)
class Request:
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    """Verifies each request with the reference library and a secret it knows (401 when it
    fails), answers 500 to the first ``failures`` tries of each ``webhook-id``, records all."""

    def __init__(self, secret: str, failures: int = 0) -> None:
        self.reference = Reference(secret)
        self.failures = failures
        self.requests: list[Request] = []
        self.tries: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()
        self.port = free_port()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                try:
                    receiver.reference.verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                with receiver.lock:
                    msg_id = headers.get("webhook-id", "")
                    receiver.tries[msg_id] += 1
                    if not verified:
                        status = 401
                    elif receiver.tries[msg_id] <= receiver.failures:
                        status = 500
                    else:
                        status = 200
                    receiver.requests.append(Request(headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def accepted(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET, failures=2)
    yield r
    r.close()


def alert(**changes: Any) -> Alert:
    now = time.time()
    base = Alert(
        alert_id="a-std-1",
        camera_id="gate",
        kind=EventKind.ZONE_INTRUSION,
        zone="lawn",
        severity=Severity.HIGH,
        status=AlertStatus.RAISED,
        first_event_id="e-1",
        first_seen=now - 5,
        last_seen=now - 5,
    )
    return replace(base, **changes)


def deliver(
    url: str,
    alerts: list[Alert],
    *keys: str,
    clock: Callable[[], float] = time.time,
) -> list[Failure]:
    config = WebhookConfig(
        name="soc", url=url, secret_env="UNUSED", attempts=4, backoff_s=0.2, timeout_s=2
    )
    webhook = Webhook(config, *(parse_secret(k) for k in keys))
    sender = WebhookSender([webhook], clock=clock)

    async def run() -> list[Failure]:
        failures: list[Failure] = []
        try:
            for item in alerts:
                failures += await sender.deliver(item, published_at=time.time())
        finally:
            await sender.close()
        return failures

    return asyncio.run(run())


def test_every_delivered_webhook_verifies_and_retries_keep_the_webhook_id(
    receiver: Receiver,
) -> None:
    states = [alert(), alert(count=2), alert(status=AlertStatus.ACKNOWLEDGED, count=2)]
    assert deliver(receiver.url, states, SECRET) == []
    # The receiver refused each state twice (500) and took the third try: nine requests, each
    # verified by the library before it answered, three ids, each tried three times.
    assert [r.status for r in receiver.requests] == [500, 500, 200] * 3
    assert dict(receiver.tries) == {delivery_id("soc", s): 3 for s in states}
    for request in receiver.requests:
        envelope = Reference(SECRET).verify(request.body, request.headers)
        assert set(envelope) == {"type", "timestamp", "data"}
    bodies = [json.loads(r.body) for r in receiver.accepted()]
    assert [b["type"] for b in bodies] == ["alert.raised", "alert.updated", "alert.acknowledged"]
    assert {b["data"]["alertId"] for b in bodies} == {"a-std-1"}
    for i in range(3):  # retries: the same id and bytes, a fresh timestamp and signature
        tries = receiver.requests[3 * i : 3 * i + 3]
        assert len({r.headers["webhook-id"] for r in tries}) == 1
        assert len({r.body for r in tries}) == 1


def test_a_tampered_body_or_a_foreign_key_fails_verification(receiver: Receiver) -> None:
    receiver.failures = 0
    assert deliver(receiver.url, [alert()], SECRET) == []
    (request,) = receiver.requests
    tampered = request.body.replace(b'"severity":"SEVERITY_HIGH"', b'"severity":"SEVERITY_LOW"')
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Reference(SECRET).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Reference(OLD_SECRET).verify(request.body, request.headers)
    forged = {**request.headers, "webhook-id": "another-id"}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Reference(SECRET).verify(request.body, forged)


def test_a_stale_timestamp_fails_verification_and_the_delivery_is_given_up(
    receiver: Receiver,
) -> None:
    # A sender whose attempts are ten minutes old: past the library's five-minute tolerance.
    failures = deliver(receiver.url, [alert()], SECRET, clock=lambda: time.time() - 600)
    (failure,) = failures
    assert failure.reason == "webhook soc: gave up after 1 attempt(s), last: HTTP 401"
    (request,) = receiver.requests
    assert request.status == 401
    with pytest.raises(WebhookVerificationError, match="too old"):
        Reference(SECRET).verify(request.body, request.headers)


def test_during_a_key_rotation_receivers_with_either_secret_verify() -> None:
    old_receiver = Receiver(OLD_SECRET)
    new_receiver = Receiver(SECRET)
    try:
        for r in (old_receiver, new_receiver):
            assert deliver(r.url, [alert()], SECRET, OLD_SECRET) == []
            (request,) = r.accepted()
            assert len(request.headers["webhook-signature"].split(" ")) == 2
        # Once the rotation is over, the old secret no longer verifies.
        assert deliver(old_receiver.url, [alert(count=2)], SECRET)[0].reason.endswith("HTTP 401")
    finally:
        old_receiver.close()
        new_receiver.close()


# -- the whole alerting process -------------------------------------------------------------------


@pytest.fixture(scope="module")
def process_receiver() -> Iterator[Receiver]:
    r = Receiver(OLD_SECRET, failures=1)  # a receiver still on the old secret, mid-rotation
    yield r
    r.close()


@pytest.fixture(scope="module")
def service(
    bootstrap: str, process_receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertingProcess]:
    policy = {
        "version": "std-1",
        "cameras": {"gate": {"zone_intrusion": {"severity": "high"}}},
        "webhooks": [
            {
                "name": "soc",
                "url": process_receiver.url,
                "secret_env": "VIGIE_WEBHOOK_STD",
                "previous_secret_env": "VIGIE_WEBHOOK_STD_OLD",
                "legacy_headers": False,
                "timeout_s": 2,
                "attempts": 4,
                "backoff_s": 0.2,
            }
        ],
    }
    saved = {name: os.environ.get(name) for name in ("VIGIE_WEBHOOK_STD", "VIGIE_WEBHOOK_STD_OLD")}
    os.environ["VIGIE_WEBHOOK_STD"] = SECRET  # the child process inherits the environment
    os.environ["VIGIE_WEBHOOK_STD_OLD"] = OLD_SECRET
    process = AlertingProcess(bootstrap, tmp_path_factory.mktemp("std-webhooks"), policy)
    try:
        process.start()
        yield process
    finally:
        process.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_the_alerting_process_delivers_webhooks_the_reference_library_verifies(
    service: AlertingProcess, bootstrap: str, process_receiver: Receiver
) -> None:
    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap, single_record_batches=True))
    publisher = bus.publisher("test")
    t0 = time.time() - 60
    for i in range(2):
        frame = FrameRef("gate", int((t0 + i) * 10), t0 + i, 768, 432)
        event = Event(
            stable_id("gate", "std", i),
            EventKind.ZONE_INTRUSION,
            frame,
            "lawn",
            "person",
            (f"t{i}",),
        )
        publisher.publish(Output(EVENTS, "gate", codec.encode(event)))
    publisher.flush(10)
    wait_for("two deliveries", lambda: len(process_receiver.accepted()) >= 2, 60)
    accepted = process_receiver.accepted()
    for request in process_receiver.requests:
        assert request.status in (200, 500)  # never 401: every request verified
        for secret in (SECRET, OLD_SECRET):
            Reference(secret).verify(request.body, request.headers)
        assert not [h for h in request.headers if h.lower().startswith("x-vigie")]
    bodies = [json.loads(r.body) for r in accepted]
    assert sorted((b["type"], b["data"]["count"]) for b in bodies) == [
        ("alert.raised", 1),
        ("alert.updated", 2),
    ]
    ids = [r.headers["webhook-id"] for r in accepted]
    assert len(set(ids)) == 2 and all(process_receiver.tries[i] == 2 for i in ids)
