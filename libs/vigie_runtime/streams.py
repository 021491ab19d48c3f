"""Stateful stream processing with faust-streaming, configured and run in one place.

A service whose state must survive restarts (the alerting service: open alerts, dedup windows)
keeps it in faust tables; each table is backed by a changelog topic that a restarted replica
reads back before it takes new input. This module turns the shared :class:`KafkaSettings` into a
faust application, runs it on its own event loop until a ``threading.Event`` says stop (so it
fits :func:`vigie_runtime.app.service_main` and in-process tests alike), and publishes the
handlers' :class:`Output` lists with at-least-once semantics (each send awaited before the
input's offset can be committed).

The development broker reports wrong high-watermarks for multi-record batches, and changelog
recovery reads "up to the high-watermark": with ``kafka.single_record_batches`` the producer
sends one record per batch, which keeps recovery exact there (measured: a worker killed with
SIGKILL resumes with every table entry and no double count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.tables.table import Table
from faust.transport import drivers as faust_drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

from vigie_runtime.bus import Output
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import PARTITIONS
from vigie_runtime.yamlconf import ConfigError

log = logging.getLogger(__name__)


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


class PromptTransport(faust_aiokafka.Transport):  # type: ignore[misc]
    """The Kafka transport with the fetch wait of the rest of the pipeline."""

    Consumer = _PromptConsumer


SCHEME = "vigiekafka"
faust_drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:PromptTransport"

# librdkafka keys we can translate to the asyncio client's credentials.
_SECURITY_KEYS = {"security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username"}


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
            ssl_context=faust.ssl.create_default_context() if protocol == "SASL_SSL" else None,
        )
    if protocol == "SSL":
        return faust.SSLCredentials(faust.ssl.create_default_context())
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


def camera_table(app: faust.App, name: str) -> CameraTable:
    table = CameraTable(app, name=name, default=None, beacon=app.tables.beacon)
    return app.tables.add(table)  # type: ignore[no-any-return]


class StreamPublisher:
    """Sends :class:`Output` lists from inside the app's loop and waits for the broker."""

    def __init__(self, app: faust.App, dead_letter_topic: str) -> None:
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
            headers = {k: v.encode() for k, v in output.headers.items()}
            fut = await topic.send(
                key=output.key.encode(), value=output.value, headers=headers or None
            )
            pending.append(fut)
        for fut in pending:
            await fut


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
