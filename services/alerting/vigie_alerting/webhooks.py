"""Alerts to HTTP receivers: signed per Standard Webhooks, retried with backoff, dead-lettered.

The requests follow the Standard Webhooks specification (https://www.standardwebhooks.com), so a
receiver verifies them with an existing library (``standardwebhooks`` and its siblings) or ten
lines of HMAC; ``docs/webhooks.md`` shows both. Headers:

- ``webhook-id``: the delivery id. Each alert state (raised, merged, escalated, decided) is one
  delivery, its id derived from the receiver, the alert id and the alert's version: retries and
  replays after a restart carry the same id, so a receiver that saw it already drops the copy.
- ``webhook-timestamp``: integer Unix seconds of this attempt (receivers refuse old ones).
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``, one per
  secret, space-separated: during a key rotation both the current and the previous secret sign.

Secrets are ``whsec_<base64 key>``, read from the environment variables the webhook config names
(``secret_env``, and ``previous_secret_env`` while rotating); a secret without the prefix (older
configurations) is used as raw UTF-8 bytes. The body is ``{"type": "alert.raised", "timestamp":
"<ISO 8601>", "data": <the alert as protobuf JSON>}``, byte for byte the same on every attempt.

Deprecated, sent while ``legacy_headers`` is on (the default, for receivers written against the
former scheme): ``X-Vigie-Delivery`` (the same id), ``X-Vigie-Timestamp`` and ``X-Vigie-Signature:
sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`` with the current secret.

Retried: connection errors, timeouts, 408, 425, 429 and 5xx. Any other 4xx means the receiver
will never take it, so it goes to the dead-letter topic at once, with the reason
(:mod:`vigie_alerting.webhook_stage` makes the dead letter).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from google.protobuf import json_format

from vigie_alerting.policy_file import WebhookConfig
from vigie_core.ids import stable_id
from vigie_core.types import Alert, AlertStatus
from vigie_runtime import codec

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})
MAX_BACKOFF_S = 60.0
SECRET_PREFIX = "whsec_"


class WebhookSecretMissing(RuntimeError):
    pass


class WebhookSecretInvalid(RuntimeError):
    pass


def parse_secret(text: str) -> bytes:
    """The HMAC key of a secret: ``whsec_<base64>`` decoded, anything else as UTF-8 bytes."""
    if not text.startswith(SECRET_PREFIX):
        return text.encode()
    encoded = text[len(SECRET_PREFIX) :].strip()
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise WebhookSecretInvalid(f"the part after {SECRET_PREFIX} is not base64: {exc}") from exc
    if not key:
        raise WebhookSecretInvalid(f"the key after {SECRET_PREFIX} is empty")
    return key


def sign_v1(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: ``v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>``."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signature_header(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per key, space-separated."""
    return " ".join(sign_v1(key, msg_id, timestamp, body) for key in keys)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """Deprecated ``X-Vigie-Signature``: ``sha256=<hex HMAC-SHA256(key, "timestamp.body")>``."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """Checks the deprecated ``X-Vigie-Signature``; new receivers verify the ``webhook-*``
    headers with a Standard Webhooks library instead (``docs/webhooks.md``)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def delivery_id(webhook: str, alert: Alert) -> str:
    """One id per receiver and alert state: the same state delivered twice has the same id."""
    return stable_id(
        "delivery",
        webhook,
        alert.alert_id,
        alert.status,
        alert.count,
        alert.severity,
        alert.escalation_level,
    )


def event_type(alert: Alert) -> str:
    """``alert.raised`` for a new alert, ``alert.updated`` when merged or escalated, and
    ``alert.acknowledged``, ``alert.confirmed`` or ``alert.dismissed`` once decided."""
    status = AlertStatus(alert.status)
    if status is not AlertStatus.RAISED:
        return f"alert.{status.value}"
    if alert.count <= 1 and alert.escalation_level == 0:
        return "alert.raised"
    return "alert.updated"


def payload(alert: Alert, occurred_at: float) -> bytes:
    """The body: the Standard Webhooks envelope around the alert as protobuf JSON."""
    when = datetime.fromtimestamp(occurred_at, UTC).isoformat(timespec="milliseconds")
    envelope = {
        "type": event_type(alert),
        "timestamp": when.replace("+00:00", "Z"),
        "data": json_format.MessageToDict(codec.alert_to_proto(alert)),
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def backoff_s(config: WebhookConfig, attempt: int) -> float:
    """Wait before attempt ``attempt + 1``: doubling from ``backoff_s``, capped at a minute."""
    return float(min(config.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    retry: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Failure:
    """A delivery given up on: which receiver, which delivery id, and why."""

    webhook: str
    delivery: str
    reason: str


@dataclass(slots=True)
class Webhook:
    """A receiver and its keys: ``secret`` signs always, ``previous_secret`` too while a
    rotation is under way."""

    config: WebhookConfig
    secret: bytes
    previous_secret: bytes | None = None

    @classmethod
    def from_config(cls, config: WebhookConfig) -> Webhook:
        names = [config.secret_env]
        if config.previous_secret_env:
            names.append(config.previous_secret_env)
        keys: list[bytes] = []
        for name in names:
            value = os.environ.get(name, "")
            if not value:
                raise WebhookSecretMissing(
                    f"webhook {config.name}: environment variable {name} is not set"
                )
            try:
                keys.append(parse_secret(value))
            except WebhookSecretInvalid as exc:
                raise WebhookSecretInvalid(f"webhook {config.name}: {name}: {exc}") from exc
        return cls(config, keys[0], keys[1] if len(keys) > 1 else None)

    @property
    def keys(self) -> list[bytes]:
        return (
            [self.secret] if self.previous_secret is None else [self.secret, self.previous_secret]
        )

    def headers(self, delivery: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The headers of one attempt: Standard Webhooks, plus the deprecated ones if on."""
        headers = {
            "Content-Type": "application/json",
            "webhook-id": delivery,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(self.keys, delivery, timestamp, body),
        }
        if self.config.legacy_headers:
            headers["X-Vigie-Delivery"] = delivery
            headers["X-Vigie-Timestamp"] = str(timestamp)
            headers["X-Vigie-Signature"] = sign(self.secret, str(timestamp), body)
        return headers

    async def _attempt(
        self, session: aiohttp.ClientSession, body: bytes, delivery: str, timestamp: int
    ) -> Attempt:
        headers = self.headers(delivery, timestamp, body)
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with session.post(
                self.config.url, data=body, headers=headers, timeout=timeout
            ) as response:
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Attempt(False, True, f"{type(exc).__name__}: {exc}".strip(": "))
        if 200 <= status < 300:
            return Attempt(True, False, f"HTTP {status}")
        retry = status >= 500 or status in RETRIED_STATUSES
        return Attempt(False, retry, f"HTTP {status}")


class WebhookSender:
    """Delivers each alert to every receiver that wants it; returns the deliveries given up."""

    def __init__(
        self,
        webhooks: list[Webhook],
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.webhooks = webhooks
        self.clock = clock
        self.sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def deliver(self, alert: Alert, published_at: float | None = None) -> list[Failure]:
        """Send to every receiver that wants this alert; the failures of those that failed.
        ``published_at`` (the record's time) lets receivers skip states older than their
        ``max_age_s``."""
        failed: list[Failure] = []
        for webhook in self.webhooks:
            too_old = (
                published_at is not None and self.clock() - published_at > webhook.config.max_age_s
            )
            if too_old:
                log.info(
                    "webhook skips an old alert state",
                    extra={"webhook": webhook.config.name, "alert_id": alert.alert_id},
                )
                continue
            if webhook.config.wants(alert):
                failure = await self._deliver_one(webhook, alert, published_at)
                if failure is not None:
                    failed.append(failure)
        return failed

    async def _deliver_one(
        self, webhook: Webhook, alert: Alert, published_at: float | None
    ) -> Failure | None:
        session = await self._client()
        # The same bytes on every attempt: the alert state's time (its record's, else the last
        # sighting), not the attempt's; only webhook-timestamp and the signatures change.
        occurred_at = published_at if published_at is not None else alert.last_seen
        body = payload(alert, occurred_at)
        delivery = delivery_id(webhook.config.name, alert)
        detail = ""
        for attempt in range(1, webhook.config.attempts + 1):
            result = await webhook._attempt(session, body, delivery, int(self.clock()))
            if result.ok:
                log.info(
                    "webhook delivered",
                    extra={"webhook": webhook.config.name, "delivery": delivery, "try": attempt},
                )
                return None
            detail = result.detail
            log.warning(
                "webhook attempt failed",
                extra={"webhook": webhook.config.name, "delivery": delivery, "error": detail},
            )
            if not result.retry:
                break
            if attempt < webhook.config.attempts:
                await self.sleep(backoff_s(webhook.config, attempt))
        reason = (
            f"webhook {webhook.config.name}: gave up after {attempt} attempt(s), last: {detail}"
        )
        return Failure(webhook.config.name, delivery, reason)
