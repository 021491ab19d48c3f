"""Stateful stream processing with faust-streaming, configured and run in one place.

A service whose state must survive restarts (the alerting service: open alerts, dedup windows)
keeps it in faust tables; each table is backed by a changelog topic that a restarted replica
reads back before it takes new input. This module turns the shared :class:`KafkaSettings` into a
faust application, runs it on its own event loop until a ``threading.Event`` says stop (so it
fits :func:`vigie_runtime.app.service_main` and in-process tests alike), and publishes the
handlers' :class:`Output` lists with at-least-once semantics (each send awaited before the
input's offset can be committed).

A runtime :class:`~vigie_runtime.stage.Stage` runs here unchanged: :class:`StreamStage` turns each
record into a bus :class:`Message` and runs the same :class:`MessageContract` as the stage runner
(any failure dead-lettered with its reason, the same metrics), and a stage's per-camera state is
kept in a :class:`StateTable` through the :mod:`vigie_runtime.state` port.

The development broker reports wrong high-watermarks for multi-record batches, and changelog
recovery reads "up to the high-watermark": with ``kafka.single_record_batches`` the producer
sends one record per batch, which keeps recovery exact there (measured: a worker killed with
SIGKILL resumes with every table entry and no double count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import faust
from aiokafka.partitioner import murmur2
from faust.tables.table import Table
from faust.transport import drivers as faust_drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

from vigie_runtime import headers as record_headers
from vigie_runtime.bus import Message, Output
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.stage import MessageContract, Stage
from vigie_runtime.state import Document, StateKeeper
from vigie_runtime.topics import PARTITIONS
from vigie_runtime.yamlconf import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")


class _PromptConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):  # type: ignore[misc]
    """faust asks the broker to hold an empty fetch for 1.5 s, a floor under the latency of
    every alert when events are sparse; the pipeline's other stages wait at most
    ``kafka.fetch_wait_max_ms`` (50 ms by default), and so does this one."""

    fetch_max_wait_ms = 50

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer


class _PromptConsumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    def _new_consumer_thread(self) -> _PromptConsumerThread:
        return _PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit_offsets(
        self, offsets: Mapping[Any, int], start_new_transaction: bool = True
    ) -> bool:
        """faust records the offsets as committed even when the broker refused them: a commit
        that crossed a rebalance ("already rebalanced") overwrites the position the rebalance
        had just read back. The messages handed back past that position are then never
        acknowledged, so their partition stays behind until new input arrives, for ever once a
        camera stops (a lag an autoscaler or a drain waits on). After a refused commit the
        position is left unknown, as on a first assignment: what is read again is committed."""
        committed = bool(await super()._commit_offsets(offsets, start_new_transaction))
        if not committed:
            for tp in offsets:
                self._committed_offset[tp] = None
        return committed


class PromptTransport(faust_aiokafka.Transport):  # type: ignore[misc]
    """The Kafka transport with the fetch wait of the rest of the pipeline."""

    Consumer = _PromptConsumer


SCHEME = "vigiekafka"
faust_drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:PromptTransport"

# librdkafka keys we can translate to the asyncio client's credentials.
_SECURITY_KEYS = {
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "ssl.ca.location",
}


def _ssl_context(extra: dict[str, str]) -> Any:
    """The brokers' CA as librdkafka is told it (``ssl.ca.location``: on Strimzi, the cluster
    CA secret mounted as a file); without it, the system's roots."""
    return ssl.create_default_context(cafile=extra.get("ssl.ca.location") or None)


def _credentials(extra: dict[str, str]) -> Any:
    protocol = extra.get("security.protocol", "PLAINTEXT").upper()
    if protocol == "PLAINTEXT":
        return None
    if protocol in {"SASL_PLAINTEXT", "SASL_SSL"}:
        mechanism = extra.get("sasl.mechanism", extra.get("sasl.mechanisms", "PLAIN")).upper()
        return faust.SASLCredentials(
            username=extra.get("sasl.username", ""),
            password=extra.get("sasl.password", ""),
            mechanism=mechanism,
            ssl_context=_ssl_context(extra) if protocol == "SASL_SSL" else None,
        )
    if protocol == "SSL":
        return faust.SSLCredentials(_ssl_context(extra))
    raise ConfigError(f"kafka.extra: security.protocol {protocol!r} is not supported by streams")


def faust_app(
    app_id: str, kafka: KafkaSettings, datadir: str = "var/streams", **options: Any
) -> faust.App:
    """A faust application on the configured brokers, with Vigie's conventions: camera-keyed
    topics of :data:`PARTITIONS` partitions, raw bytes in and out, memory stores rebuilt from
    changelogs, no web server (probes and metrics are the service's own)."""
    brokers = [f"{SCHEME}://{b.strip()}" for b in kafka.bootstrap_servers.split(",") if b.strip()]
    _PromptConsumerThread.fetch_max_wait_ms = kafka.fetch_wait_max_ms
    unknown = {k for k in kafka.extra if k not in _SECURITY_KEYS and k != "sasl.password"}
    if unknown:
        log.warning("kafka.extra keys ignored by streams", extra={"keys": sorted(unknown)})
    settings: dict[str, Any] = {
        "broker": brokers,
        "broker_credentials": _credentials(kafka.extra),
        "store": "memory://",
        # Where faust keeps its own files (it writes none with memory stores, but creates the
        # folder): under var/, which is writable in the container, not the working directory.
        "datadir": f"{datadir}/{app_id}",
        "topic_partitions": PARTITIONS,
        "topic_replication_factor": 1,
        "table_standby_replicas": 0,
        "broker_session_timeout": kafka.session_timeout_ms / 1000,
        "broker_heartbeat_interval": kafka.heartbeat_interval_ms / 1000,
        "broker_commit_interval": kafka.auto_commit_interval_ms / 1000,
        "consumer_auto_offset_reset": "earliest",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_enabled": False,
        "processing_guarantee": "at_least_once",
        "producer_acks": -1,
    }
    if kafka.single_record_batches:
        settings["producer_linger_ms"] = 0
        settings["producer_max_batch_size"] = 1  # one record per batch: exact watermarks
    settings.update(options)
    Path(settings["datadir"]).mkdir(parents=True, exist_ok=True)
    return faust.App(app_id, **settings)


def key_partition(key: str, partitions: int) -> int:
    """The partition every Java-compatible producer (ours included) gives a key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class CameraTable(Table):  # type: ignore[misc]
    """A table keyed by camera id, writable from anywhere in the application's loop.

    A faust table normally writes its changelog to the partition of the event being processed,
    so it can only change inside an agent. Here the partition is the camera's own (the murmur2
    hash of its id, as for every camera-keyed topic), so the desk and timers can change state as
    well, and the entry still lands where the replica owning the camera's events reads it back.
    """

    def partition_for_key(self, key: Any) -> int | None:
        return key_partition(str(key), self.partitions or self.app.conf.topic_partitions)


class StateTable(CameraTable):
    """The camera table that stores a stage's state, telling the stage's :class:`StateKeeper`
    which cameras this replica gained and lost.

    Lost partitions are dropped as soon as the rebalance starts (nothing may write a camera
    another replica now owns); gained ones are read back once faust has recovered them from the
    changelog. Changelog partition *n* is the followed topic's partition *n*: same key hash,
    same partition count.
    """

    keeper: StateKeeper | None = None
    _held: frozenset[int] = frozenset()

    def keep_for(self, keeper: StateKeeper) -> None:
        self.keeper = keeper

    def _mine(self, tps: Iterable[Any]) -> frozenset[int]:
        changelog = self.changelog_topic.get_topic_name()
        return frozenset(tp.partition for tp in tps if tp.topic == changelog)

    def _follow(self, partitions: Iterable[int]) -> list[tuple[str, int]]:
        assert self.keeper is not None
        return [(self.keeper.follows, p) for p in sorted(partitions)]

    async def on_rebalance(
        self, assigned: Any, revoked: Any, newly_assigned: Any, generation_id: int = 0
    ) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        lost = self._mine(revoked) & self._held
        if self.keeper is not None and lost:
            self.keeper.revoked(self._follow(lost))
            self._held = self._held - lost

    async def on_recovery_completed(self, active_tps: Any, standby_tps: Any) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        if self.keeper is None:
            return
        active = self._mine(active_tps)
        if self._held - active:
            self.keeper.revoked(self._follow(self._held - active))
        gained = active - self._held
        self._held = active
        if gained:
            self.keeper.assigned(self._follow(gained))

    def held(self) -> frozenset[int]:
        """The partitions whose cameras this replica holds now."""
        return self._held


class TableStateStore:
    """:class:`vigie_runtime.state.StateStore` over a camera table: its changelog is the
    durable copy, written by faust as the table changes."""

    def __init__(self, table: CameraTable) -> None:
        self.table = table

    def read(self, partitions: Collection[int]) -> dict[str, tuple[int, Document]]:
        found: dict[str, tuple[int, Document]] = {}
        for key, document in list(self.table.items()):
            partition = self.table.partition_for_key(key)
            if partition in partitions and isinstance(document, Mapping):
                found[str(key)] = (partition, document)
        return found

    def write(self, camera: str, document: Document) -> list[Output]:
        self.table[camera] = dict(document)
        return []  # faust sends the changelog record itself


C = TypeVar("C", bound=CameraTable)


def camera_table(app: faust.App, name: str, cls: type[C]) -> C:
    """A table of class ``cls`` registered with ``app``."""
    table = cls(app, name=name, default=None, beacon=app.tables.beacon)
    app.tables.add(table)
    return table


def message_of(event: Any) -> Message:
    """A faust event as the bus's :class:`Message` (timestamp in ms), so a stage's contract
    runs on it as on a record the stage runner polled."""
    m = event.message
    raw = m.headers or {}
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    headers = {str(k): (v or b"") for k, v in pairs}
    key = m.key if m.key is None or isinstance(m.key, bytes) else str(m.key).encode()
    timestamp_ms = int((m.timestamp or 0) * 1000)
    return Message(m.topic, m.partition, m.offset, key, m.value or b"", headers, timestamp_ms)


class StreamPublisher:
    """Sends :class:`Output` lists from inside the app's loop and waits for the broker."""

    def __init__(self, app: faust.App, dead_letter_topic: str) -> None:
        self.client_id = str(app.conf.id)
        self.app = app
        self.dead_letter_topic = dead_letter_topic
        self._topics: dict[str, Any] = {}

    def _topic(self, name: str) -> Any:
        if name not in self._topics:
            self._topics[name] = self.app.topic(
                name, key_serializer="raw", value_serializer="raw", partitions=None
            )
        return self._topics[name]

    async def publish(self, outputs: Sequence[Output]) -> None:
        """All sent, then all awaited: an exception means the input must not be acknowledged."""
        pending = []
        for output in outputs:
            topic = self._topic(output.topic or self.dead_letter_topic)
            described = record_headers.standard(output.topic, self.client_id, output.headers)
            headers = {k: v.encode() for k, v in described.items()}
            fut = await topic.send(
                key=output.key.encode(), value=output.value, headers=headers or None
            )
            pending.append(fut)
        for fut in pending:
            await fut


class StreamStage(Generic[T]):
    """A runtime stage driven by faust agents, one per topic it reads.

    Each record runs the stage's :class:`MessageContract` (decode, handle, dead letter with the
    reason), then ``before_commit`` if the stage has one; the state of the camera it touched is
    saved through ``keeper``; every output is awaited before the record is acknowledged.
    ``on_idle`` is not called: time-based work belongs to the application's timers.
    """

    def __init__(
        self,
        app: faust.App,
        stage: Stage[T],
        publisher: StreamPublisher,
        dead_letter_topic: str,
        keeper: StateKeeper | None = None,
    ) -> None:
        self.stage = stage
        self.publisher = publisher
        self.keeper = keeper
        self.contract = MessageContract(stage, dead_letter_topic)
        for name in stage.topics:
            self._agent(app, name)

    def _agent(self, app: faust.App, name: str) -> None:
        topic = app.topic(name, key_serializer="raw", value_serializer="raw")

        async def consume(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await self.process(message_of(event))

        app.agent(topic, name=f"{self.stage.name}:{name}")(consume)

    async def process(self, message: Message) -> None:
        outputs = self.contract.process(message)
        if self.stage.before_commit is not None:
            outputs.extend(self.stage.before_commit() or ())
        keeper = self.keeper
        if keeper is not None:
            camera = message.camera_id
            if camera and message.topic == keeper.follows:
                keeper.touched(camera, message.partition)
            outputs.extend(keeper.outputs())
        await self.publisher.publish(outputs)


def run_app(
    app: faust.App,
    stop: threading.Event,
    on_started: Callable[[asyncio.AbstractEventLoop], Awaitable[None] | None] | None = None,
) -> None:
    """Run ``app`` on a new event loop in this thread until ``stop`` is set."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        app.finalize()
        await app.start()
        if on_started is not None:
            result = on_started(loop)
            if result is not None:
                await result
        while not stop.is_set():
            await asyncio.sleep(0.2)
        log.info("stopping the stream application")
        await app.stop()

    try:
        loop.run_until_complete(main())
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def recovered(app: faust.App) -> bool:
    """Partitions assigned and every table read back from its changelog."""
    try:
        recovery = app.tables.recovery
    except Exception:  # not started yet
        return False
    return not app.rebalancing and recovery.completed.is_set()
