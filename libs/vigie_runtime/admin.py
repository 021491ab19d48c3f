"""Topic creation and consumer lag, against the development broker and real Kafka alike."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from vigie_runtime.topics import TOPICS, TopicSpec

log = logging.getLogger(__name__)


def admin_client(bootstrap: str, extra: dict[str, str] | None = None) -> AdminClient:
    config: dict[str, Any] = {"bootstrap.servers": bootstrap}
    config.update(extra or {})
    return AdminClient(config)


def ensure_topics(
    admin: AdminClient, specs: Iterable[TopicSpec] = TOPICS, replication: int = 1
) -> list[str]:
    """Create missing topics; report existing ones and any with fewer partitions than wanted."""
    specs = list(specs)
    existing = admin.list_topics(timeout=10).topics
    report: list[str] = []
    missing = []
    for spec in specs:
        if spec.name in existing:
            have = len(existing[spec.name].partitions)
            note = "" if have >= spec.partitions else f" (has {have}, wants {spec.partitions})"
            report.append(f"exists  {spec.name}{note}")
        else:
            missing.append(
                NewTopic(spec.name, spec.partitions, replication, config=dict(spec.config))
            )
    if missing:
        for name, future in admin.create_topics(missing, request_timeout=15).items():
            try:
                future.result()
                report.append(f"created {name}")
            except KafkaException as exc:
                if exc.args[0].code() == 36:  # TOPIC_ALREADY_EXISTS: a racing creator won
                    report.append(f"exists  {name}")
                else:
                    raise
    return report


def partitions_of(admin: AdminClient, topic: str) -> int | None:
    """How many partitions ``topic`` has; None when it does not exist."""
    metadata = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        return None
    return len(metadata.partitions)


class LagProbe:
    """Messages not yet committed by a group on some topics: what autoscaling watches, and what
    `vigie run` and the tests wait on to know the pipeline has drained."""

    def __init__(self, bootstrap: str, extra: dict[str, str] | None = None) -> None:
        from confluent_kafka import Consumer

        self.admin = admin_client(bootstrap, extra)
        config: dict[str, Any] = {"bootstrap.servers": bootstrap, "group.id": "vigie-lag-probe"}
        config.update(extra or {})
        self._watermarks = Consumer(config)

    def lag(self, group_id: str, topics: Sequence[str]) -> int:
        return sum(high - done for _, done, high in self._positions(group_id, topics))

    def behind(self, group_id: str, topics: Sequence[str]) -> dict[str, str]:
        """Each partition the group has not finished, as ``topic[p]`` -> ``done/end``: a group
        stuck one message short on one partition reads apart from one still working through."""
        return {
            f"{tp.topic}[{tp.partition}]": f"{done}/{high}"
            for tp, done, high in self._positions(group_id, topics)
            if high > done
        }

    def _positions(
        self, group_id: str, topics: Sequence[str]
    ) -> list[tuple[TopicPartition, int, int]]:
        """(partition, first offset not yet done, end offset) for every partition of ``topics``;
        a group that never committed there counts from the partition's first offset."""
        metadata = self.admin.list_topics(timeout=10).topics
        partitions = [
            TopicPartition(t, p) for t in topics if t in metadata for p in metadata[t].partitions
        ]
        if not partitions:
            return []
        request = [ConsumerGroupTopicPartitions(group_id, partitions)]
        result = self.admin.list_consumer_group_offsets(request)[group_id].result()
        committed = {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}
        positions = []
        for tp in partitions:
            low, high = self._watermarks.get_watermark_offsets(tp, timeout=5)
            done = committed.get((tp.topic, tp.partition), -1)
            positions.append((tp, min(high, done if done >= 0 else low), high))
        return positions

    def close(self) -> None:
        self._watermarks.close()
