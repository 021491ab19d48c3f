"""The in-process bus keeps the Kafka adapter's semantics: order per key, groups, offsets, lag."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from vigie_runtime.bus import Message, Output
from vigie_runtime.inmemory import InMemoryBus, InMemorySubscriber
from vigie_runtime.topics import DEAD_LETTERS, FRAMES, PARTITIONS

TOPIC = "test.bus.v1"
OTHER = "test.bus-other.v1"


def publish(bus: InMemoryBus, key: str, value: bytes, topic: str = TOPIC, **headers: str) -> None:
    bus.publisher("test").publish(Output(topic, key, value, headers))


def publish_many(bus: InMemoryBus, keys: list[str], per_key: int, topic: str = TOPIC) -> None:
    """``per_key`` messages for every key, keys interleaved: ``cam-a/0, cam-b/0, cam-a/1, ...``."""
    for i in range(per_key):
        for key in keys:
            publish(bus, key, f"{key}/{i}".encode(), topic)


def drain(sub: InMemorySubscriber, max_messages: int = 1000) -> list[Message]:
    messages: list[Message] = []
    while batch := sub.poll(max_messages, 0):
        messages.extend(batch)
    return messages


def by_key(messages: list[Message]) -> dict[str, list[Message]]:
    grouped: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        grouped[m.camera_id or ""].append(m)
    return grouped


KEYS = [f"cam-{i}" for i in range(32)]


# -- producing ------------------------------------------------------------------------------------


def test_published_messages_are_polled_in_order_per_key() -> None:
    bus = InMemoryBus(default_partitions=4)
    publish_many(bus, ["cam-a", "cam-b", "cam-c"], per_key=10)
    sub = bus.subscriber("g", [TOPIC], "test")
    messages = drain(sub, max_messages=7)
    assert len(messages) == 30
    for key, mine in by_key(messages).items():
        assert [m.value for m in mine] == [f"{key}/{i}".encode() for i in range(10)]
        assert [m.offset for m in mine] == sorted(m.offset for m in mine)


def test_a_message_carries_topic_key_value_and_headers() -> None:
    bus = InMemoryBus()
    before_ms = int(time.time() * 1000)
    publish(bus, "cam-1", b"\x00\xffpayload", **{"vigie.trace": "abc"})
    after_ms = int(time.time() * 1000)
    [message] = drain(bus.subscriber("g", [TOPIC], "test"))
    assert (message.topic, message.partition, message.offset) == (TOPIC, 0, 0)
    assert (message.key, message.value) == (b"cam-1", b"\x00\xffpayload")
    assert message.headers["vigie.trace"] == b"abc"
    assert message.headers["vigie.producer"].startswith(b"test/")  # who wrote it, always
    assert message.camera_id == "cam-1"
    assert before_ms <= message.timestamp_ms <= after_ms + 1
    assert bus.messages(TOPIC) == [message]


@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_the_same_key_always_lands_on_the_same_partition(partitions: int) -> None:
    bus = InMemoryBus(default_partitions=partitions)
    publish_many(bus, KEYS, per_key=5)
    messages = bus.messages(TOPIC)
    for key, mine in by_key(messages).items():
        assert len({m.partition for m in mine}) == 1, key
        assert [m.value for m in mine] == [f"{key}/{i}".encode() for i in range(5)]
    assert {m.partition for m in messages} == set(range(partitions))
    for partition in range(partitions):
        offsets = [m.offset for m in messages if m.partition == partition]
        assert offsets == list(range(len(offsets)))


@pytest.mark.parametrize(("topic", "partitions"), [(FRAMES, PARTITIONS), (DEAD_LETTERS, 1)])
def test_declared_topics_get_their_declared_partition_count(topic: str, partitions: int) -> None:
    bus = InMemoryBus(default_partitions=2)
    publish_many(bus, KEYS, per_key=1, topic=topic)
    assert {m.partition for m in bus.messages(topic)} == set(range(partitions))


# -- consumer groups and offsets ------------------------------------------------------------------


@pytest.mark.parametrize("marked", [0, 2, 4])
def test_a_group_resumes_at_its_committed_offset(marked: int) -> None:
    """At-least-once: what was polled but not marked done is delivered again."""
    bus = InMemoryBus()
    publish_many(bus, ["cam-1"], per_key=6)
    first = bus.subscriber("g", [TOPIC], "first")
    polled = first.poll(4, 0)
    assert [m.offset for m in polled] == [0, 1, 2, 3]
    first.mark_done(polled[:marked])
    first.close()

    second = bus.subscriber("g", [TOPIC], "second")
    assert [m.offset for m in drain(second)] == list(range(marked, 6))


def test_marking_done_never_moves_the_committed_offset_back() -> None:
    bus = InMemoryBus()
    publish_many(bus, ["cam-1"], per_key=5)
    sub = bus.subscriber("g", [TOPIC], "test")
    messages = drain(sub)
    sub.mark_done([messages[3]])
    sub.mark_done([messages[1]])
    assert bus.lag("g", [TOPIC]) == 1
    sub.close()
    assert [m.offset for m in drain(bus.subscriber("g", [TOPIC], "again"))] == [4]


def test_two_groups_read_the_same_messages_independently() -> None:
    bus = InMemoryBus(default_partitions=3)
    publish_many(bus, KEYS[:6], per_key=3)
    storage = bus.subscriber("storage", [TOPIC], "storage")
    alerting = bus.subscriber("alerting", [TOPIC], "alerting")

    read_by_storage = drain(storage)
    storage.mark_done(read_by_storage)
    assert bus.lag("storage", [TOPIC]) == 0
    assert bus.lag("alerting", [TOPIC]) == 18

    read_by_alerting = drain(alerting)
    assert sorted(read_by_alerting, key=repr) == sorted(read_by_storage, key=repr)
    assert len(read_by_alerting) == 18


def test_lag_counts_messages_not_marked_done() -> None:
    bus = InMemoryBus(default_partitions=2)
    publish_many(bus, KEYS[:5], per_key=1)
    publish_many(bus, KEYS[:3], per_key=1, topic=OTHER)
    assert bus.lag("never-subscribed", [TOPIC, OTHER]) == 8

    sub = bus.subscriber("g", [TOPIC, OTHER], "test")
    messages = drain(sub)
    assert len(messages) == 8
    assert bus.lag("g", [TOPIC, OTHER]) == 8  # polled is not done

    sub.mark_done([m for m in messages if m.topic == OTHER])
    assert bus.lag("g", [OTHER]) == 0
    assert bus.lag("g", [TOPIC]) == 5
    assert bus.lag("g", [TOPIC, OTHER]) == 5

    sub.mark_done(messages)
    assert bus.lag("g", [TOPIC, OTHER]) == 0
    publish(bus, "cam-0", b"late")
    assert bus.lag("g", [TOPIC, OTHER]) == 1


def test_two_members_of_a_group_split_the_partitions() -> None:
    bus = InMemoryBus(default_partitions=4)
    a = bus.subscriber("g", [TOPIC], "a")
    b = bus.subscriber("g", [TOPIC], "b")
    publish_many(bus, KEYS, per_key=3)

    got_a, got_b = drain(a), drain(b)
    seen_a = {(m.partition, m.offset) for m in got_a}
    seen_b = {(m.partition, m.offset) for m in got_b}
    assert got_a and got_b
    assert not seen_a & seen_b, "a message was delivered to both members"
    assert seen_a | seen_b == {(m.partition, m.offset) for m in bus.messages(TOPIC)}
    partitions_a = {m.partition for m in got_a}
    partitions_b = {m.partition for m in got_b}
    assert not partitions_a & partitions_b
    assert partitions_a | partitions_b == {0, 1, 2, 3}


def test_a_leaving_member_hands_its_partitions_over_from_the_committed_offset() -> None:
    bus = InMemoryBus(default_partitions=4)
    a = bus.subscriber("g", [TOPIC], "a")
    b = bus.subscriber("g", [TOPIC], "b")
    publish_many(bus, KEYS, per_key=2)
    a.mark_done(drain(a))
    got_b = drain(b)
    b.mark_done(got_b[:1])
    b.close()

    taken_over = drain(a)
    assert {(m.partition, m.offset) for m in taken_over} == {
        (m.partition, m.offset) for m in got_b[1:]
    }
    a.mark_done(taken_over)
    assert bus.lag("g", [TOPIC]) == 0


# -- waiting --------------------------------------------------------------------------------------


def test_poll_with_a_timeout_returns_empty_when_nothing_arrives() -> None:
    bus = InMemoryBus()
    sub = bus.subscriber("g", [TOPIC], "test")
    assert sub.poll(10, 0) == []
    start = time.monotonic()
    assert sub.poll(10, 0.05) == []
    assert time.monotonic() - start >= 0.04


class _WatchedCondition(threading.Condition):
    """Tells the test when a poller is actually waiting, so the wake-up path is exercised."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def test_poll_wakes_up_when_a_message_arrives_from_another_thread() -> None:
    bus = InMemoryBus()
    condition = _WatchedCondition()
    bus._cond = condition
    sub = bus.subscriber("g", [TOPIC], "test")

    def produce() -> None:
        assert condition.waiting.wait(5)
        publish(bus, "cam-1", b"hello")

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    start = time.monotonic()
    batch = sub.poll(10, timeout_s=10)
    elapsed = time.monotonic() - start
    producer.join(5)

    assert [m.value for m in batch] == [b"hello"]
    assert condition.waiting.is_set()
    assert elapsed < 5, "poll slept through the notification"


def test_members_only_get_partitions_of_the_topics_they_subscribed_to() -> None:
    bus = InMemoryBus(default_partitions=2)
    on_topic = bus.subscriber("g", [TOPIC], "on-topic")
    on_other = bus.subscriber("g", [OTHER], "on-other")
    publish_many(bus, KEYS, per_key=1, topic=TOPIC)
    publish_many(bus, KEYS, per_key=1, topic=OTHER)

    assert {m.topic for m in drain(on_topic)} == {TOPIC}
    assert {m.topic for m in drain(on_other)} == {OTHER}
