"""Production: the alerting stage driven by a faust-streaming application.

- ``alert-state`` table: the durable copy of this replica's :class:`AlertBooks`, one JSON
  document per camera, backed by the changelog topic ``<app id>-alert-state-changelog``. Keys
  are camera ids hashed like every other producer's (murmur2), so a camera's state lives on the
  partition number of its events; the runtime's state keeper reads a partition's cameras back
  into the books once faust has recovered it, and drops them when it goes elsewhere.
- agents on ``vigie.events.v1`` and ``vigie.verdicts.v1`` run the stage's message contract, as
  the stage runner does; every output is awaited before the input is acknowledged.
- timer: policy changes, escalations and housekeeping, then the state they changed.
- desk calls run on the application's loop, the same handler methods, then the state.
- the partition assignor tells every member which replica owns which partitions of the table,
  under each replica's desk address (faust's ``canonical_url``): the desk routes by it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from vigie_alerting.books import AlertBooks
from vigie_alerting.desk import ReplicaDesk
from vigie_alerting.handler import STAGE, AlertingHandler
from vigie_alerting.peers import PeerDesks
from vigie_alerting.policy_file import load_policy
from vigie_alerting.replica import AlertingReplica, desk_address
from vigie_alerting.settings import AlertingSettings
from vigie_runtime.admin import admin_client, ensure_topics, partitions_of
from vigie_runtime.bus import Output
from vigie_runtime.health import Health
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.state import StateKeeper
from vigie_runtime.streams import (
    StateTable,
    StreamPublisher,
    StreamStage,
    TableStateStore,
    camera_table,
    faust_app,
    key_partition,
    recovered,
    run_app,
)
from vigie_runtime.topics import ALERTS, BY_NAME, EVENTS, TopicSpec
from vigie_runtime.topology import ALERTING

log = logging.getLogger(__name__)

T = TypeVar("T")
STATE_TABLE = "alert-state"
URL_SCHEME = "grpc://"


class AlertStreams:
    """The faust application driving ``handler``'s stage over ``books``."""

    def __init__(
        self,
        app_id: str,
        kafka: KafkaSettings,
        handler: AlertingHandler,
        books: AlertBooks,
        dead_letter_topic: str,
        partitions: int,
        advertised: str,
    ) -> None:
        self.handler = handler
        self.own_url = URL_SCHEME + advertised
        self.app = faust_app(app_id, kafka, topic_partitions=partitions, canonical_url=self.own_url)
        self.table = table = camera_table(self.app, STATE_TABLE, StateTable)
        self.keeper = StateKeeper(STAGE, books, TableStateStore(table), EVENTS)
        table.keep_for(self.keeper)
        self.publisher = StreamPublisher(self.app, dead_letter_topic)
        changelog = table.changelog_topic.get_topic_name()
        self.stage = StreamStage(
            self.app,
            handler.stage(app_id, changelog),
            self.publisher,
            dead_letter_topic,
            self.keeper,
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = threading.Event()
        self._timer(handler.tick_s)

    def _timer(self, tick_s: float) -> None:
        app = self.app

        # More often than tick_s: the handler keeps its own pace, and a timer that fires a
        # little early would otherwise skip a whole period.
        @app.timer(tick_s / 4, on_leader=False)
        async def tick() -> None:
            if recovered(app):
                await self.publisher.publish([*self.handler.tick(), *self.keeper.outputs()])

    async def on_started(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.started.set()

    def ready(self) -> bool:
        return self.started.is_set() and recovered(self.app)

    # -- who owns what ----------------------------------------------------------------------------

    def _distribution(self) -> dict[str, list[int]]:
        """Desk URL -> the table partitions that replica owns, as the assignor shared them."""
        changelog = self.table.changelog_topic.get_topic_name()
        try:
            metadata = self.app.router.table_metadata(STATE_TABLE)
        except (KeyError, AttributeError):  # no assignment yet
            return {}
        return {str(url): list(topics.get(changelog, ())) for url, topics in metadata.items()}

    def owner(self, camera_id: str) -> str | None:
        partition = key_partition(
            camera_id, self.table.partitions or self.app.conf.topic_partitions
        )
        for url, partitions in self._distribution().items():
            if partition in partitions:
                return None if url == self.own_url else url.removeprefix(URL_SCHEME)
        return None

    def others(self) -> list[str]:
        return sorted(
            url.removeprefix(URL_SCHEME) for url in self._distribution() if url != self.own_url
        )


class LoopCalls:
    """Desk work on the application's loop, where the engine lives, then the outputs and the
    state it changed, awaited before the call returns."""

    def __init__(self, streams: AlertStreams, timeout_s: float) -> None:
        self.streams = streams
        self.timeout_s = timeout_s

    def run(
        self, work: Callable[[], T], outputs: Callable[[T], Sequence[Output]] | None = None
    ) -> T:
        streams = self.streams
        if streams.loop is None or not streams.ready():
            raise TimeoutError("the stream application is starting or rebalancing")

        async def call() -> T:
            result = work()
            made = list(outputs(result)) if outputs is not None else []
            await streams.publisher.publish([*made, *streams.keeper.outputs()])
            return result

        future = asyncio.run_coroutine_threadsafe(call(), streams.loop)
        try:
            return future.result(self.timeout_s)
        except TimeoutError:
            future.cancel()
            raise


def prepare_topics(settings: AlertingSettings, audience_topics: list[str]) -> int:
    """Create the topics the service reads and writes if missing (audience topics come from the
    policy, so nothing else knows them); returns the partition count of the events topic, which
    the state table must share so a camera's state sits on its events' partition number."""
    admin = admin_client(settings.kafka.bootstrap_servers, settings.kafka.extra)
    alerts = BY_NAME[ALERTS]
    audiences = [
        TopicSpec(t, alerts.partitions, "alerts for one audience", alerts.config)
        for t in audience_topics
    ]
    dead = settings.dead_letter_topic
    # What the topology says the service reads and writes, bar the stream application's own
    # topics (faust creates them) and the single-process state topic.
    used = sorted(
        (ALERTING.reads() | ALERTING.written()) - {s.topic for s in ALERTING.state} - {dead}
    )
    mine = [BY_NAME[t] for t in used]
    mine.append(BY_NAME.get(dead) or TopicSpec(dead, 1, "dead letters"))
    for line in ensure_topics(admin, [*mine, *audiences]):
        log.info("topic", extra={"topic": line})
    partitions = partitions_of(admin, EVENTS)
    if partitions is None:
        raise RuntimeError(f"topic {EVENTS} is missing after creation")
    return partitions


class StreamingAlertingService(AlertingReplica):
    """The stream application drives the alerting stage; the desk is routed across replicas."""

    def __init__(self, settings: AlertingSettings, bus: KafkaBus, health: Health) -> None:
        policy = load_policy(settings.policy_file, settings.policy)
        super().__init__(settings, bus, health, policy)
        partitions = prepare_topics(settings, [r.topic for r in policy.file.routes])
        self.address = desk_address(settings)
        self.streams = AlertStreams(
            settings.group_id,
            settings.kafka,
            self.handler,
            self.books,
            settings.dead_letter_topic,
            partitions,
            self.address,
        )
        health.add_check("alerting.recovered", self.streams.ready)
        desk = ReplicaDesk(self.handler, LoopCalls(self.streams, settings.desk_timeout_s))
        peers = PeerDesks(settings.desk_timeout_s, settings.grpc)
        self.grpc = self.desk_server(desk, self.streams, peers)
        log.info("desk advertised", extra={"address": self.address})

    def run(self, stop: threading.Event) -> None:
        beat = threading.Thread(target=self._beat, args=(stop,), daemon=True)
        beat.start()
        self.run_beside(
            stop, self.grpc, lambda: run_app(self.streams.app, stop, self.streams.on_started)
        )

    def _beat(self, stop: threading.Event) -> None:
        """Alive while the application's event loop turns: a beat is given only when a no-op
        scheduled on the loop runs within a few seconds, so a loop blocked by a stuck call
        stops the beats and liveness fails after its deadline."""

        async def turn() -> None:
            return None

        while not stop.wait(1.0):
            loop = self.streams.loop
            if loop is None or not self.streams.started.is_set() or self.streams.app.should_stop:
                continue
            try:
                asyncio.run_coroutine_threadsafe(turn(), loop).result(timeout=5.0)
            except (TimeoutError, RuntimeError):
                log.warning("the stream application's loop did not turn within 5 s")
                continue
            self.health.beat()
