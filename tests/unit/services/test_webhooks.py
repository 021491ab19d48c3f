"""Webhook signing per Standard Webhooks, checked against the reference library
(``standardwebhooks``): known vectors, key rotation, the envelope, and one id across retries."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook as Reference
from standardwebhooks.webhooks import WebhookVerificationError

from vigie_alerting.policy_file import WebhookConfig
from vigie_alerting.webhooks import (
    Webhook,
    WebhookSecretInvalid,
    WebhookSecretMissing,
    WebhookSender,
    delivery_id,
    event_type,
    parse_secret,
    payload,
    sign_v1,
    signature_header,
    verify,
)
from vigie_core.types import Alert, AlertStatus, EventKind, Severity

SECRET = "whsec_" + base64.b64encode(b"vigie-test-key-32-bytes-long!!!!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the-key-being-rotated-out").decode()


def config(**changes: Any) -> WebhookConfig:
    base = {"name": "soc", "url": "http://127.0.0.1:9/hook", "secret_env": "VIGIE_TEST_HOOK"}
    return WebhookConfig(**{**base, **changes})


def alert(**changes: Any) -> Alert:
    base = Alert(
        alert_id="a-1",
        camera_id="gate",
        kind=EventKind.ZONE_INTRUSION,
        zone="lawn",
        severity=Severity.HIGH,
        status=AlertStatus.RAISED,
        first_event_id="e-1",
        first_seen=1_700_000_000.0,
        last_seen=1_700_000_000.0,
    )
    return replace(base, **changes)


# -- signing ------------------------------------------------------------------------------------


def test_the_signature_matches_the_specification_test_vector() -> None:
    # The example of the Standard Webhooks specification and its reference libraries.
    key = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signed = sign_v1(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("body", [b"{}", b'{"type":"alert.raised"}', "é ✓".encode()])
@pytest.mark.parametrize("timestamp", [0, 1_700_000_000, 4_102_444_800])
def test_the_signature_is_the_reference_librarys(body: bytes, timestamp: int) -> None:
    expected = Reference(SECRET).sign("delivery-1", datetime.fromtimestamp(timestamp, UTC), body)
    assert sign_v1(parse_secret(SECRET), "delivery-1", timestamp, body) == expected


def test_secrets_in_whsec_form_decode_with_or_without_padding() -> None:
    assert parse_secret("whsec_a2V5") == b"key"
    assert parse_secret("whsec_a2V5MQ") == parse_secret("whsec_a2V5MQ==") == b"key1"
    assert parse_secret("plain-secret") == b"plain-secret"  # older configurations: raw bytes
    with pytest.raises(WebhookSecretInvalid):
        parse_secret("whsec_not*base64")
    with pytest.raises(WebhookSecretInvalid):
        parse_secret("whsec_")


def test_the_headers_verify_with_the_reference_library() -> None:
    body = payload(alert(), 1_700_000_000.0)
    now = int(time.time())
    headers = Webhook(config(), parse_secret(SECRET)).headers("d-1", now, body)
    assert headers["webhook-id"] == "d-1"
    assert headers["webhook-timestamp"] == str(now)
    assert Reference(SECRET).verify(body, headers)["type"] == "alert.raised"
    with pytest.raises(WebhookVerificationError):
        Reference(SECRET).verify(body.replace(b"gate", b"gatf"), headers)
    with pytest.raises(WebhookVerificationError):
        Reference(OLD_SECRET).verify(body, headers)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    body = b'{"type":"alert.raised"}'
    now = int(time.time())
    webhook = Webhook(config(), parse_secret(SECRET), parse_secret(OLD_SECRET))
    signatures = webhook.headers("d-1", now, body)["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert signatures == [
        sign_v1(parse_secret(SECRET), "d-1", now, body),
        sign_v1(parse_secret(OLD_SECRET), "d-1", now, body),
    ]
    headers = webhook.headers("d-1", now, body)
    for secret in (SECRET, OLD_SECRET):
        assert Reference(secret).verify(body, headers, json_parse=False) is None
    other = "whsec_" + base64.b64encode(b"somebody else").decode()
    with pytest.raises(WebhookVerificationError):
        Reference(other).verify(body, headers)


def test_a_plain_secret_verifies_with_the_library_given_as_bytes() -> None:
    body = b"{}"
    now = int(time.time())
    headers = Webhook(config(), parse_secret("plain-secret")).headers("d-1", now, body)
    assert Reference(b"plain-secret").verify(body, headers) == {}


def test_the_deprecated_headers_are_sent_unless_turned_off() -> None:
    body = b"{}"
    key = parse_secret(SECRET)
    legacy = Webhook(config(), key).headers("d-1", 1_700_000_000, body)
    assert legacy["X-Vigie-Delivery"] == "d-1"
    assert verify(key, legacy["X-Vigie-Timestamp"], body, legacy["X-Vigie-Signature"])
    modern = Webhook(config(legacy_headers=False), key).headers("d-1", 1_700_000_000, body)
    assert not [h for h in modern if h.lower().startswith("x-vigie")]
    assert signature_header([key], "d-1", 1_700_000_000, body) == modern["webhook-signature"]


# -- secrets from the environment ---------------------------------------------------------------


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_TEST_HOOK", SECRET)
    monkeypatch.setenv("VIGIE_TEST_HOOK_OLD", OLD_SECRET)
    single = Webhook.from_config(config())
    assert single.keys == [parse_secret(SECRET)]
    rotating = Webhook.from_config(config(previous_secret_env="VIGIE_TEST_HOOK_OLD"))
    assert rotating.keys == [parse_secret(SECRET), parse_secret(OLD_SECRET)]
    with pytest.raises(WebhookSecretMissing, match="VIGIE_TEST_HOOK_GONE"):
        Webhook.from_config(config(previous_secret_env="VIGIE_TEST_HOOK_GONE"))
    monkeypatch.setenv("VIGIE_TEST_HOOK", "whsec_***")
    with pytest.raises(WebhookSecretInvalid, match="webhook soc: VIGIE_TEST_HOOK"):
        Webhook.from_config(config())


def test_the_config_refuses_an_empty_previous_secret_name() -> None:
    with pytest.raises(ValidationError):
        config(previous_secret_env="")


# -- the body -----------------------------------------------------------------------------------


def test_the_body_is_the_envelope_around_the_alert() -> None:
    body = json.loads(payload(alert(count=3), 1_700_000_000.25))
    assert body["type"] == "alert.updated"
    assert body["timestamp"] == "2023-11-14T22:13:20.250Z"
    assert body["data"]["alertId"] == "a-1" and body["data"]["count"] == 3


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "alert.raised"),
        ({"count": 2}, "alert.updated"),
        ({"escalation_level": 1}, "alert.updated"),
        ({"status": AlertStatus.ACKNOWLEDGED}, "alert.acknowledged"),
        ({"status": AlertStatus.CONFIRMED}, "alert.confirmed"),
        ({"status": AlertStatus.DISMISSED, "count": 4}, "alert.dismissed"),
    ],
)
def test_each_alert_state_has_its_event_type(changes: dict[str, Any], expected: str) -> None:
    assert event_type(alert(**changes)) == expected


# -- retries ------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


@dataclass
class Session:
    """Stands for aiohttp's session: answers the given statuses in turn, records the requests."""

    statuses: list[int]
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    closed: bool = False

    def post(self, url: str, data: bytes, headers: dict[str, str], timeout: object) -> Response:
        self.requests.append((headers, data))
        return Response(self.statuses.pop(0))

    async def close(self) -> None:
        self.closed = True


def run_sender(statuses: list[int], item: Alert, **changes: Any) -> tuple[Session, list[Any]]:
    """Deliver ``item`` through a sender whose clock moves with its back-off sleeps."""
    offset = [0.0]

    async def sleep(seconds: float) -> None:
        offset[0] += seconds

    webhook = Webhook(config(attempts=4, backoff_s=2, **changes), parse_secret(SECRET))
    sender = WebhookSender([webhook], clock=lambda: time.time() + offset[0], sleep=sleep)
    session = Session(statuses)
    sender._session = session  # type: ignore[assignment]
    failures = asyncio.run(sender.deliver(item, published_at=time.time()))
    return session, failures


def test_retries_keep_the_id_and_the_body_and_sign_each_attempt_anew() -> None:
    session, failures = run_sender([500, 429, 200], alert())
    assert failures == []
    ids = {headers["webhook-id"] for headers, _ in session.requests}
    assert ids == {delivery_id("soc", alert())}
    assert len({body for _, body in session.requests}) == 1
    stamps = [int(headers["webhook-timestamp"]) for headers, _ in session.requests]
    assert stamps[1] - stamps[0] in (1, 2, 3) and stamps[2] - stamps[1] in (3, 4, 5)  # 2 s, 4 s
    for headers, body in session.requests:
        assert Reference(SECRET).verify(body, headers)["data"]["alertId"] == "a-1"


def test_each_alert_state_is_a_delivery_of_its_own() -> None:
    states = [alert(), alert(count=2), alert(escalation_level=1), alert(status="acknowledged")]
    ids = [delivery_id("soc", s) for s in states]
    assert len(set(ids)) == len(states)
    assert delivery_id("soc", alert()) == delivery_id("soc", alert())
    assert delivery_id("noc", alert()) != delivery_id("soc", alert())


def test_a_refusal_is_not_retried_and_names_the_delivery() -> None:
    session, failures = run_sender([400], alert())
    assert len(session.requests) == 1
    (failure,) = failures
    assert failure.delivery == session.requests[0][0]["webhook-id"]
    assert failure.reason == "webhook soc: gave up after 1 attempt(s), last: HTTP 400"
