"""The production driver: the alerting engine as a faust-streaming application.

- ``alert-state`` table: one JSON document per camera (open alerts, dedup windows, evaluation
  counts), backed by the changelog topic ``<app id>-alert-state-changelog``. Keys are camera
  ids hashed like every other producer's (murmur2), so a camera's state lives on the partition
  number of its events, and a replica that takes the partition over reads it back first.
- agent on ``vigie.events.v1``: policy, raise or merge, publish (alerts, audience topics, audit).
- agent on ``vigie.verdicts.v1``: verdicts given elsewhere (another replica, before a restart)
  applied once; those given here are already applied and change nothing.
- agent on ``vigie.alerts.v1``: webhook deliveries, retried, dead-lettered after the last try.
- timer: escalation of unacknowledged alerts and housekeeping, every ``tick_s``.

The desk's gRPC threads hand their work to the application's loop, where the engine lives.
Every output is awaited before the input is acknowledged: at-least-once, and replays are
no-ops because ids are deterministic.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import faust

from vigie_alerting.desk import WatchHub
from vigie_alerting.engine import AlertEngine
from vigie_alerting.policy_file import LoadedPolicy
from vigie_alerting.policy_watch import PolicyWatch
from vigie_alerting.webhooks import Webhook, WebhookSender
from vigie_core.types import Alert, VerdictAction
from vigie_runtime import codec, metrics
from vigie_runtime.auth import Caller
from vigie_runtime.bus import Output
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.streams import StreamPublisher, camera_table, faust_app, recovered
from vigie_runtime.topics import ALERTS, EVENTS, VERDICTS

log = logging.getLogger(__name__)

T = TypeVar("T")
STATE_TABLE = "alert-state"


class AlertStreams:
    """The faust application and the engine it drives; also the desk of this replica."""

    def __init__(
        self,
        app_id: str,
        kafka: KafkaSettings,
        policy: LoadedPolicy,
        dead_letter_topic: str,
        tick_s: float,
        desk_timeout_s: float,
        partitions: int,
        policy_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.desk_timeout_s = desk_timeout_s
        self.hub = WatchHub()
        self.app = faust_app(app_id, kafka, topic_partitions=partitions)
        self.table = camera_table(self.app, STATE_TABLE)
        self.engine = AlertEngine(policy, self.table, listeners=[self.hub.publish])
        self.policy_watch = PolicyWatch(policy_path, self.engine) if policy_path else None
        self.publisher = StreamPublisher(self.app, dead_letter_topic)
        self.webhooks = WebhookSender([Webhook.from_config(w) for w in policy.file.webhooks], clock)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = threading.Event()
        self._define(tick_s)

    # -- the application ------------------------------------------------------------------------

    def _define(self, tick_s: float) -> None:
        app = self.app
        events = app.topic(EVENTS, key_serializer="raw", value_serializer="raw")
        verdicts = app.topic(VERDICTS, key_serializer="raw", value_serializer="raw")
        alerts = app.topic(ALERTS, key_serializer="raw", value_serializer="raw")

        @app.agent(events, name="alerting-events")
        async def on_events(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await self._consume(event, self._event_outputs)

        @app.agent(verdicts, name="alerting-verdicts")
        async def on_verdicts(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await self._consume(event, self._verdict_outputs)

        if self.webhooks.webhooks:

            @app.agent(alerts, name="alerting-webhooks")
            async def on_alerts(stream: faust.StreamT) -> None:
                async for event in stream.events():
                    await self._consume(event, self._webhook_outputs)

        @app.timer(tick_s, on_leader=False)
        async def tick() -> None:
            now = self.clock()
            changes = self.policy_watch.poll(now) if self.policy_watch else []
            await self.publisher.publish(changes)
            if recovered(app):
                await self.publisher.publish(self.engine.tick(now))

    async def _consume(self, event: faust.EventT, outputs_of: Callable[..., Any]) -> None:
        """Decode, handle, publish; an input that cannot be decoded goes to dead letters."""
        message = event.message
        metrics.MESSAGES_IN.labels("alerting", message.topic).inc()
        try:
            outputs = await outputs_of(message)
        except codec.DecodeError as exc:
            metrics.DEAD_LETTERS.labels("alerting", message.topic).inc()
            outputs = [self._dead_letter(message, f"decode: {type(exc).__name__}: {exc}")]
        await self.publisher.publish(outputs)

    def _dead_letter(self, message: Any, reason: str) -> Output:
        return Output(
            topic="",
            key=(message.key or b"").decode("utf-8", "replace"),
            value=message.value or b"",
            headers={
                "vigie.reason": reason[:2000],
                "vigie.stage": "alerting",
                "vigie.source.topic": message.topic,
                "vigie.source.partition": str(message.partition),
                "vigie.source.offset": str(message.offset),
            },
        )

    async def _event_outputs(self, message: Any) -> list[Output]:
        event = codec.decode_event(message.value)
        return self.engine.on_event(event, self.clock())

    async def _verdict_outputs(self, message: Any) -> list[Output]:
        verdict = codec.decode_verdict(message.value)
        camera_id = (message.key or b"").decode("utf-8", "replace")
        return self.engine.on_verdict(verdict, camera_id)

    async def _webhook_outputs(self, message: Any) -> list[Output]:
        published_at = message.timestamp or None  # seconds; 0 when the producer set none
        return await self.webhooks.deliver(codec.decode_alert(message.value), published_at)

    async def on_started(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        await self.publisher.publish([self.engine.policy_record(self.clock())])
        self.started.set()

    def ready(self) -> bool:
        return self.started.is_set() and recovered(self.app)

    # -- the desk (called from gRPC threads) ----------------------------------------------------

    def _in_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        if self.loop is None or not self.started.is_set():
            coro.close()
            raise TimeoutError("the stream application is not running yet")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.desk_timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    def alerts(self, camera_id: str | None, include_closed: bool) -> list[Alert]:
        async def query() -> list[Alert]:
            return self.engine.alerts(camera_id, include_closed)

        return self._in_loop(query())

    def decide(
        self,
        alert_id: str,
        action: VerdictAction,
        caller: Caller,
        reason: str,
        request_id: str,
    ) -> Alert:
        async def decide() -> Alert:
            decision = self.engine.decide(
                alert_id, action, caller, reason, self.clock(), request_id
            )
            await self.publisher.publish(decision.outputs)
            return decision.alert

        return self._in_loop(decide())

    def watch(self) -> WatchHub:
        return self.hub

    async def close(self) -> None:
        await self.webhooks.close()
