"""Webhook deliveries as a stage of their own, in every mode.

A stateless stage on ``vigie.alerts.v1`` with a consumer group of its own, run by a stage runner
in a thread beside the alerting stage: any replica may deliver any alert, slow receivers never
hold up alerting, and a delivery given up on (or an unreadable alert) is dead-lettered with its
reason like any failed message. The asynchronous sender runs on an event loop private to the
runner's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence

from vigie_alerting.webhooks import WebhookSender
from vigie_core.types import Alert
from vigie_runtime import codec, metrics
from vigie_runtime.bus import Message, Output
from vigie_runtime.settings import TimeBounds
from vigie_runtime.stage import Stage, StageRunner, dead_letter
from vigie_runtime.topology import ALERTING

GROUP = ALERTING.group("alerting-webhooks")
STAGE = GROUP.stage


class WebhookStage:
    def __init__(
        self,
        sender: WebhookSender,
        base_group_id: str,
        dead_letter_topic: str,
        time_bounds: TimeBounds | None = None,
    ) -> None:
        self.sender = sender
        self.time_bounds = time_bounds or TimeBounds()
        self.group_id = GROUP.id(base_group_id)
        self.dead_letter_topic = dead_letter_topic
        self._loop: asyncio.AbstractEventLoop | None = None

    def stage(self) -> Stage[Alert]:
        return Stage(
            name=STAGE,
            topics=GROUP.topics,
            group_id=self.group_id,
            decode=lambda message: codec.decode_alert(message.value),
            handle=self.handle,
            time_bounds=self.time_bounds,
        )

    def handle(self, alert: Alert, message: Message) -> Sequence[Output]:
        """Deliver to every receiver that wants it; the dead letters of those given up on."""
        published_at = message.timestamp_ms / 1000 if message.timestamp_ms else None
        failures = self.loop().run_until_complete(self.sender.deliver(alert, published_at))
        for _ in failures:
            metrics.DEAD_LETTERS.labels(STAGE, message.topic).inc()
        return [
            dead_letter(
                message,
                self.dead_letter_topic,
                STAGE,
                failure.reason,
                {"vigie.webhook": failure.webhook, "vigie.delivery": failure.delivery},
            )
            for failure in failures
        ]

    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def run(self, runner: StageRunner[Alert], stop: threading.Event) -> None:
        """Run ``runner`` (over :meth:`stage`) in this thread, then close the HTTP session."""
        try:
            runner.run(stop)
        finally:
            loop = self.loop()
            with contextlib.suppress(Exception):
                loop.run_until_complete(self.sender.close())
            loop.close()
            self._loop = None
