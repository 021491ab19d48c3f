"""An in-process bus with the Kafka adapter's semantics, for unit tests and ``vigie demo``.

Topics have partitions chosen by key hash, consumer groups keep committed offsets, and a
subscriber re-reads from the last committed offset when it is re-created: the same
at-least-once behaviour as the real broker, without one.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from vigie_runtime import headers as record_headers
from vigie_runtime.bus import Message, Output, RebalanceListener
from vigie_runtime.topics import BY_NAME


@dataclass
class _Topic:
    partitions: list[list[Message]]


@dataclass
class _Group:
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    members: list[InMemorySubscriber] = field(default_factory=list)


class InMemoryBus:
    def __init__(self, default_partitions: int = 1) -> None:
        self.default_partitions = default_partitions
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, _Group] = {}
        self._cond = threading.Condition()

    # -- administration ------------------------------------------------------------------
    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            spec = BY_NAME.get(name)
            count = spec.partitions if spec else self.default_partitions
            topic = self._topics[name] = _Topic([[] for _ in range(count)])
        return topic

    def messages(self, topic: str) -> list[Message]:
        """Everything ever published on ``topic``, partition by partition (for tests)."""
        with self._cond:
            return [m for part in self._topic(topic).partitions for m in part]

    def read_all(self, topic: str, timeout_s: float = 30.0) -> list[Message]:
        return self.messages(topic)

    def read_partitions(
        self, topic: str, partitions: Collection[int] | None, timeout_s: float = 30.0
    ) -> list[Message]:
        with self._cond:
            return [
                m
                for i, part in enumerate(self._topic(topic).partitions)
                if partitions is None or i in partitions
                for m in part
            ]

    def partition_count(self, topic: str) -> int | None:
        with self._cond:
            return len(self._topic(topic).partitions)

    def lag(self, group_id: str, topics: Sequence[str]) -> int:
        with self._cond:
            group = self._groups.get(group_id, _Group())
            total = 0
            for name in topics:
                for i, part in enumerate(self._topic(name).partitions):
                    total += len(part) - group.committed.get((name, i), 0)
            return total

    # -- producing -------------------------------------------------------------------------
    def append(self, output: Output) -> None:
        with self._cond:
            topic = self._topic(output.topic)
            index = zlib.crc32(output.key.encode()) % len(topic.partitions)
            part = topic.partitions[index]
            headers = {k: v.encode() for k, v in output.headers.items()}
            part.append(
                Message(
                    output.topic,
                    index,
                    len(part),
                    output.key.encode(),
                    output.value,
                    headers,
                    int(time.time() * 1000),
                )
            )
            self._cond.notify_all()

    def publisher(self, client_id: str) -> InMemoryPublisher:
        return InMemoryPublisher(self, client_id)

    # -- consuming -------------------------------------------------------------------------
    def subscriber(
        self,
        group_id: str,
        topics: Sequence[str],
        client_id: str,
        listener: RebalanceListener | None = None,
        rewind: Mapping[str, int] | None = None,
        from_end: bool = False,
        background: bool = False,  # nothing to trade in memory
    ) -> InMemorySubscriber:
        with self._cond:
            group = self._groups.setdefault(group_id, _Group())
            sub = InMemorySubscriber(self, group, list(topics), listener, rewind, from_end)
            group.members.append(sub)
            self._rebalance(group)
            return sub

    def _rebalance(self, group: _Group) -> None:
        """Deal each topic's partitions round-robin over the members subscribed to that topic
        (as Kafka's range/round-robin assignors do). Each member takes its new share at its next
        poll, as a Kafka member does: everything revoked, then the new share assigned, resuming
        at the committed offsets."""
        shares: dict[int, list[tuple[str, int]]] = {id(m): [] for m in group.members}
        topics = sorted({t for m in group.members for t in m.topics})
        for topic in topics:
            subscribed = [m for m in group.members if topic in m.topics]
            for i in range(len(self._topic(topic).partitions)):
                shares[id(subscribed[i % len(subscribed)])].append((topic, i))
        for member in group.members:
            member.pending = shares[id(member)]
        self._cond.notify_all()

    def _leave(self, sub: InMemorySubscriber) -> None:
        with self._cond:
            if sub in sub.group.members:
                sub.group.members.remove(sub)
                self._rebalance(sub.group)


class InMemoryPublisher:
    def __init__(self, bus: InMemoryBus, client_id: str = "") -> None:
        self._bus = bus
        self._client_id = client_id

    def publish(self, output: Output) -> None:
        described = record_headers.standard(output.topic, self._client_id, output.headers)
        self._bus.append(replace(output, headers=described))

    def flush(self, timeout_s: float) -> None:
        return None  # appends are synchronous: everything published is already delivered

    def close(self) -> None:
        return None


class InMemorySubscriber:
    def __init__(
        self,
        bus: InMemoryBus,
        group: _Group,
        topics: list[str],
        listener: RebalanceListener | None = None,
        rewind: Mapping[str, int] | None = None,
        from_end: bool = False,
    ) -> None:
        self._bus = bus
        self.group = group
        self.topics = topics
        self.listener = listener
        self.rewind = dict(rewind or {})
        self.from_end = from_end
        self.positions: dict[tuple[str, int], int] = {}
        # The share the last rebalance gave this member, taken at its next poll, and the share
        # the listener was last told of.
        self.pending: list[tuple[str, int]] | None = None
        self.share: list[tuple[str, int]] = []

    def _take_share(self) -> None:
        """Apply a rebalance in this member's thread: revoke all, restore, then assign."""
        with self._bus._cond:
            share, self.pending = self.pending, None
        if share is None:
            return
        with self._bus._cond:
            self.positions = {}
        if self.listener is not None and self.share:
            self.listener.revoked(self.share)
        self.share = share
        if self.listener is not None and share:
            self.listener.assigned(share)
        with self._bus._cond:
            if self.pending is None:  # no newer rebalance while the listener ran
                self.positions = {key: self._start(key) for key in share}

    def _start(self, key: tuple[str, int]) -> int:
        committed = self.group.committed.get(key)
        if committed is None:
            return len(self._bus._topic(key[0]).partitions[key[1]]) if self.from_end else 0
        return max(0, committed - self.rewind.get(key[0], 0))

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        self._take_share()
        with self._bus._cond:
            if self.pending is not None:
                return []
            batch = self._take(max_messages)
            if not batch and timeout_s > 0:
                self._bus._cond.wait(timeout_s)
                if self.pending is not None:
                    return []
                batch = self._take(max_messages)
            return batch

    def _take(self, max_messages: int) -> list[Message]:
        batch: list[Message] = []
        for (topic, index), position in sorted(self.positions.items()):
            part = self._bus._topic(topic).partitions[index]
            take = part[position : position + max_messages - len(batch)]
            batch.extend(take)
            self.positions[(topic, index)] = position + len(take)
            if len(batch) >= max_messages:
                break
        return batch

    def mark_done(self, messages: Sequence[Message]) -> None:
        with self._bus._cond:
            for m in messages:
                key = (m.topic, m.partition)
                self.group.committed[key] = max(self.group.committed.get(key, 0), m.offset + 1)

    def assigned(self) -> bool:
        """True once this member took the share of its last rebalance (at a poll)."""
        with self._bus._cond:
            return self.pending is None

    def close(self) -> None:
        self._bus._leave(self)
