"""The confluent-kafka adapter of the bus port: the only module that imports confluent_kafka.

Delivery semantics: at-least-once. Offsets are *stored* only after a batch's outputs are
acknowledged by the broker (``enable.auto.offset.store=false`` + ``store_offsets``) and the
client commits stored offsets periodically and on revoke/close. A crash replays at most the
messages since the last commit; deterministic ids downstream make that replay harmless.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from vigie_runtime import headers as record_headers
from vigie_runtime import metrics
from vigie_runtime.bus import DeliveryError, Message, Output, RebalanceListener
from vigie_runtime.settings import KafkaSettings

log = logging.getLogger(__name__)
CLIENT_LOG = logging.getLogger("librdkafka")


def _base_config(settings: KafkaSettings, client_id: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": client_id,
        # The client's own messages go through logging, so they are JSON lines like the rest.
        "logger": CLIENT_LOG,
    }
    config.update(settings.extra)
    return config


def producer_config(settings: KafkaSettings, client_id: str) -> dict[str, Any]:
    config = _base_config(settings, client_id)
    config.update(
        {
            "acks": "all",
            "linger.ms": 5,
            # Java-compatible key hashing: other Kafka clients put a camera on the same partition.
            "partitioner": "murmur2_random",
            "message.max.bytes": 8 * 1024 * 1024,
            "message.timeout.ms": 60_000,
        }
    )
    if settings.single_record_batches:
        config["batch.num.messages"] = 1
    config.update(settings.extra)
    return config


def consumer_config(
    settings: KafkaSettings, group_id: str, client_id: str, background: bool = False
) -> dict[str, Any]:
    """``background``: a group off the path to the alert, whose empty fetches may wait longer."""
    config = _base_config(settings, client_id)
    wait_ms = settings.background_fetch_wait_max_ms if background else settings.fetch_wait_max_ms
    config.update(
        {
            "group.id": group_id,
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": settings.auto_commit_interval_ms,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": settings.session_timeout_ms,
            "heartbeat.interval.ms": settings.heartbeat_interval_ms,
            "fetch.wait.max.ms": wait_ms,
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
            "fetch.max.bytes": 64 * 1024 * 1024,
        }
    )
    config.update(settings.extra)
    return config


def _message(m: Any) -> Message:
    """confluent-kafka's message as the bus's own type."""
    headers = {k: (v or b"") for k, v in (m.headers() or [])}
    _, timestamp_ms = m.timestamp()
    return Message(
        m.topic(),
        m.partition(),
        m.offset(),
        m.key(),
        m.value() or b"",
        headers,
        max(timestamp_ms, 0),
    )


class KafkaPublisher:
    def __init__(self, settings: KafkaSettings, client_id: str) -> None:
        self._producer = Producer(producer_config(settings, client_id))
        self._client_id = client_id
        self._failures: list[str] = []
        self._lock = threading.Lock()

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            with self._lock:
                self._failures.append(f"{msg.topic()}: {err.str()}")

    def publish(self, output: Output) -> None:
        described = record_headers.standard(output.topic, self._client_id, output.headers)
        headers = [(k, v.encode()) for k, v in described.items()]
        while True:
            try:
                self._producer.produce(
                    output.topic,
                    key=output.key.encode(),
                    value=output.value,
                    headers=headers,
                    on_delivery=self._on_delivery,
                )
                break
            except BufferError:
                # Local queue full: let deliveries drain, then try again (back-pressure).
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        remaining = self._producer.flush(timeout_s)
        with self._lock:
            failures, self._failures = self._failures, []
        if remaining:
            failures.append(f"{remaining} message(s) still waiting after {timeout_s:.0f}s")
        if failures:
            raise DeliveryError("; ".join(failures[:5]))

    def close(self) -> None:
        self._producer.flush(10)


class KafkaSubscriber:
    def __init__(
        self,
        settings: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        client_id: str,
        listener: RebalanceListener | None = None,
        rewind: Mapping[str, int] | None = None,
        from_end: bool = False,
        background: bool = False,
    ) -> None:
        config = consumer_config(settings, group_id, client_id, background=background)
        if from_end:
            config["auto.offset.reset"] = "latest"
        self._group_id = group_id
        if settings.stats_interval_ms > 0:
            config["statistics.interval.ms"] = settings.stats_interval_ms
            config["stats_cb"] = self._on_stats
        self._consumer = Consumer(config)
        self._assigned: set[tuple[str, int]] = set()
        self._group_joined = False
        self._listener = listener
        self._rewind = dict(rewind or {})
        self._consumer.subscribe(list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gained = sorted((p.topic, p.partition) for p in partitions)
        # Called inside poll, before the client fetches from these partitions: a listener that
        # restores state here has done so before the first message of a gained partition.
        if self._listener is not None:
            self._listener.assigned(gained)
        if self._rewind:
            self._start_before_committed(consumer, partitions)
        self._group_joined = True
        self._assigned |= set(gained)
        log.info("partitions assigned", extra={"partitions": gained})

    def _start_before_committed(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start the partitions of rewound topics ``rewind[topic]`` messages before their
        committed offsets (never before the log's start), then take the assignment as set."""
        wanted = [p for p in partitions if p.topic in self._rewind]
        committed = consumer.committed(
            [TopicPartition(p.topic, p.partition) for p in wanted], timeout=10
        )
        starts = {(c.topic, c.partition): c.offset for c in committed if c.offset >= 0}
        for p in wanted:
            at = starts.get((p.topic, p.partition))
            if at is None:
                continue  # nothing committed: the reset policy already starts at the beginning
            low, _ = consumer.get_watermark_offsets(TopicPartition(p.topic, p.partition), 10)
            p.offset = max(low, at - self._rewind[p.topic])
        consumer.assign(partitions)
        log.info(
            "partitions rewound",
            extra={"partitions": sorted((p.topic, p.partition, p.offset) for p in wanted)},
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Hand over cleanly: whatever was marked done is committed before another member starts.
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit on revoke failed", extra={"error": str(exc)})
        lost = sorted((p.topic, p.partition) for p in partitions)
        self._assigned -= set(lost)
        for topic, partition in lost:  # another member reports those now
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(self._group_id, topic, str(partition))
        if self._listener is not None:
            self._listener.revoked(lost)
        log.info("partitions revoked", extra={"partitions": lost})

    def _on_stats(self, statistics: str) -> None:
        """librdkafka's statistics (called from poll): each assigned partition's lag."""
        try:
            topics = json.loads(statistics).get("topics", {})
            for topic, described in topics.items():
                for partition, figures in described.get("partitions", {}).items():
                    lag = figures.get("consumer_lag", -1)
                    if (topic, int(partition)) in self._assigned and lag >= 0:
                        metrics.CONSUMER_LAG.labels(self._group_id, topic, partition).set(lag)
        except (ValueError, TypeError, AttributeError) as exc:
            log.debug("unreadable client statistics", extra={"error": str(exc)})

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        # Wait for the first message only, then take what has already arrived: consume(n, t)
        # alone waits for n messages or t seconds, which at camera rates is pure latency.
        raw = self._consumer.consume(1, timeout_s)
        if raw and max_messages > 1:
            raw += self._consumer.consume(max_messages - 1, 0)
        messages = []
        for m in raw:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise KafkaException(err)
                log.warning("consumer error", extra={"error": err.str()})
                continue
            messages.append(_message(m))
        return messages

    def mark_done(self, messages: Sequence[Message]) -> None:
        last: dict[tuple[str, int], int] = {}
        for m in messages:
            last[(m.topic, m.partition)] = max(last.get((m.topic, m.partition), -1), m.offset)
        if last:
            self._consumer.store_offsets(
                offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
            )

    def assigned(self) -> bool:
        return self._group_joined

    def close(self) -> None:
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("consumer close failed", extra={"error": str(exc)})


class KafkaBus:
    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings

    def publisher(self, client_id: str) -> KafkaPublisher:
        return KafkaPublisher(self.settings, client_id)

    def subscriber(
        self,
        group_id: str,
        topics: Sequence[str],
        client_id: str,
        listener: RebalanceListener | None = None,
        rewind: Mapping[str, int] | None = None,
        from_end: bool = False,
        background: bool = False,
    ) -> KafkaSubscriber:
        return KafkaSubscriber(
            self.settings, group_id, topics, client_id, listener, rewind, from_end, background
        )

    def _reader(self) -> Consumer:
        config = consumer_config(self.settings, f"vigie-reader-{uuid.uuid4().hex}", "reader")
        config.update({"enable.auto.commit": False, "enable.partition.eof": True})
        return Consumer(config)

    def partition_count(self, topic: str) -> int | None:
        consumer = self._reader()
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                return None
            return len(metadata.partitions)
        finally:
            consumer.close()

    def read_all(self, topic: str, timeout_s: float = 30.0) -> list[Message]:
        return self.read_partitions(topic, None, timeout_s)

    def read_partitions(
        self, topic: str, partitions: Collection[int] | None, timeout_s: float = 30.0
    ) -> list[Message]:
        """Read partitions of ``topic`` from the beginning to the high-watermarks seen at the
        start.

        Needs correct watermarks: on the development broker, producers of such topics must
        send single-record batches (``kafka.single_record_batches``).
        """
        consumer = self._reader()
        try:
            try:
                metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            except KafkaException as exc:
                raise ConnectionError(f"metadata of {topic}: {exc}") from exc
            if metadata is None:
                return []
            if metadata.error is not None:
                if metadata.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    return []  # nothing was ever written there
                raise ConnectionError(f"metadata of {topic}: {metadata.error.str()}")
            ends: dict[int, int] = {}
            for p in metadata.partitions:
                if partitions is not None and p not in partitions:
                    continue
                try:
                    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                except KafkaException as exc:
                    raise ConnectionError(f"watermarks of {topic}[{p}]: {exc}") from exc
                if high > low:
                    ends[p] = high
            if not ends:
                return []
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
            messages: list[Message] = []
            deadline = time.monotonic() + timeout_s
            while ends and time.monotonic() < deadline:
                for m in consumer.consume(500, 0.5):
                    if m.error() is not None:
                        # An end-of-partition notice counts only once it is at the end seen at
                        # the start: an early one would silently cut the read short.
                        if m.error().code() == KafkaError._PARTITION_EOF and m.offset() >= ends.get(
                            m.partition(), 0
                        ):
                            ends.pop(m.partition(), None)
                        continue
                    messages.append(_message(m))
                    if m.offset() + 1 >= ends.get(m.partition(), 0):
                        ends.pop(m.partition(), None)
            if ends:
                raise TimeoutError(
                    f"could not read {topic} partitions {sorted(ends)} to their end"
                    f" within {timeout_s:.0f}s"
                )
            return messages
        finally:
            consumer.close()


def wait_for_broker(settings: KafkaSettings, timeout_s: float = 30.0) -> None:
    """Block until the broker answers a metadata request; raise with a clear message if not."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(_base_config(settings, "vigie-probe"))
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=2)
            return
        except KafkaException as exc:
            last = exc
            time.sleep(0.5)
    raise ConnectionError(
        f"no Kafka broker answered at {settings.bootstrap_servers} within {timeout_s:.0f}s"
        f" ({last}); start one with `make broker` or set VIGIE_KAFKA__BOOTSTRAP_SERVERS"
    )
