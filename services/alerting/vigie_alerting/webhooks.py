"""Alerts to HTTP receivers: signed, retried with backoff, dead-lettered after the last attempt.

Each alert state (raised, merged, escalated, decided) is one *delivery* with a deterministic id,
sent in ``X-Vigie-Delivery``: a receiver that saw an id already can drop the copy, so a retry or
a replay after a restart never makes it act twice. The body is the alert as protobuf JSON; the
signature is ``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` in ``X-Vigie-Signature``
with the timestamp in ``X-Vigie-Timestamp``, so a receiver can refuse forgeries and old replays.

Retried: connection errors, timeouts, 408, 425, 429 and 5xx. Any other 4xx means the receiver
will never take it, so it goes to the dead-letter topic at once, with the reason
(:mod:`vigie_alerting.webhook_stage` makes the dead letter).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from google.protobuf import json_format

from vigie_alerting.policy_file import WebhookConfig
from vigie_core.ids import stable_id
from vigie_core.types import Alert
from vigie_runtime import codec

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})
MAX_BACKOFF_S = 60.0


class WebhookSecretMissing(RuntimeError):
    pass


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does; here for the tests and for receivers written in Python."""
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
    config: WebhookConfig
    secret: bytes

    @classmethod
    def from_config(cls, config: WebhookConfig) -> Webhook:
        secret = os.environ.get(config.secret_env, "")
        if not secret:
            raise WebhookSecretMissing(
                f"webhook {config.name}: environment variable {config.secret_env} is not set"
            )
        return cls(config, secret.encode())

    async def _attempt(
        self, session: aiohttp.ClientSession, body: bytes, delivery: str, timestamp: str
    ) -> Attempt:
        headers = {
            "Content-Type": "application/json",
            "X-Vigie-Delivery": delivery,
            "X-Vigie-Timestamp": timestamp,
            "X-Vigie-Signature": sign(self.secret, timestamp, body),
        }
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
                failure = await self._deliver_one(webhook, alert)
                if failure is not None:
                    failed.append(failure)
        return failed

    async def _deliver_one(self, webhook: Webhook, alert: Alert) -> Failure | None:
        session = await self._client()
        body = json_format.MessageToJson(codec.alert_to_proto(alert), indent=None).encode()
        delivery = delivery_id(webhook.config.name, alert)
        detail = ""
        for attempt in range(1, webhook.config.attempts + 1):
            result = await webhook._attempt(session, body, delivery, str(int(self.clock())))
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
