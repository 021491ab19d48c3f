"""The runtime against the real development broker: topics, the stage loop, dead letters and
at-least-once delivery."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid

import pytest
from confluent_kafka.admin import NewTopic

from vigie_runtime.admin import LagProbe, admin_client, ensure_topics
from vigie_runtime.bus import Message, Output
from vigie_runtime.health import Health
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.stage import Reject, Stage, StageRunner
from vigie_runtime.topics import DEAD_LETTERS, TOPICS

pytestmark = pytest.mark.integration


def settings(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        single_record_batches=True,
    )


def make_topics(bootstrap: str, *names: str) -> None:
    admin = admin_client(bootstrap)
    for future in admin.create_topics([NewTopic(n, 2, 1) for n in names]).values():
        future.result()


def read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 20) -> list[Message]:
    bus = KafkaBus(settings(bootstrap))
    sub = bus.subscriber(f"reader-{uuid.uuid4().hex[:6]}", [topic], "reader")
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            got.extend(sub.poll(100, 0.5))
    finally:
        sub.close()
    return got


def test_topics_are_created_once_with_their_partitions(bootstrap: str, kcat: list[str]) -> None:
    admin = admin_client(bootstrap)
    again = ensure_topics(admin)
    assert all(line.startswith("exists") for line in again), again
    metadata = admin.list_topics(timeout=5).topics
    for spec in TOPICS:
        assert len(metadata[spec.name].partitions) == spec.partitions
    listing = subprocess.run(
        [*kcat, "-b", bootstrap, "-L"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    for spec in TOPICS:
        assert f'topic "{spec.name}"' in listing


def test_stage_delivers_outputs_and_dead_letters_bad_input(bootstrap: str) -> None:
    source, target = f"in-{uuid.uuid4().hex[:6]}", f"out-{uuid.uuid4().hex[:6]}"
    make_topics(bootstrap, source, target)
    bus = KafkaBus(settings(bootstrap))
    producer = bus.publisher("test")
    for i in range(5):
        producer.publish(Output(source, f"cam-{i % 2}", f"frame {i}".encode()))
    producer.publish(Output(source, "cam-1", b"\xff\xfe not text"))
    producer.flush(10)

    def decode(message: Message) -> str:
        try:
            return message.value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Reject(f"not UTF-8: {exc.reason}") from exc

    def handle(text: str, message: Message) -> list[Output]:
        return [Output(target, message.camera_id or "", text.upper().encode())]

    group = f"stage-{uuid.uuid4().hex[:6]}"
    stage = Stage("upper", [source], group, decode, handle)
    stop = threading.Event()
    runner = StageRunner(stage, bus, Health(), DEAD_LETTERS)
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        outputs = read_all(bootstrap, target, 5)
        assert sorted(m.value for m in outputs) == [f"FRAME {i}".encode() for i in range(5)]
        letters = [
            m for m in read_all(bootstrap, DEAD_LETTERS, 1) if m.headers["vigie.stage"] == b"upper"
        ]
        assert len(letters) == 1
        assert letters[0].value == b"\xff\xfe not text"  # original bytes, untouched
        assert letters[0].headers["vigie.reason"].startswith(b"decode: Reject: not UTF-8")
        assert letters[0].headers["vigie.source.topic"] == source.encode()
        assert letters[0].key == b"cam-1"
        # Every input is committed, the bad one included: the stage went on.
        probe = LagProbe(bootstrap)
        deadline = time.monotonic() + 15
        while probe.lag(group, [source]) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert probe.lag(group, [source]) == 0
        probe.close()
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


def test_unfinished_messages_are_delivered_again(bootstrap: str) -> None:
    """At-least-once: what was polled but not marked done comes back to the next member."""
    topic = f"alo-{uuid.uuid4().hex[:6]}"
    make_topics(bootstrap, topic)
    bus = KafkaBus(settings(bootstrap))
    producer = bus.publisher("test")
    for i in range(6):
        producer.publish(Output(topic, "cam", str(i).encode()))
    producer.flush(10)
    group = f"alo-{uuid.uuid4().hex[:6]}"

    first = bus.subscriber(group, [topic], "first")
    got: list[Message] = []
    deadline = time.monotonic() + 20
    while len(got) < 6 and time.monotonic() < deadline:
        got.extend(first.poll(10, 0.5))
    assert len(got) == 6
    first.mark_done(got[:2])  # only the first two were finished when "the process died"
    first.close()

    second = bus.subscriber(group, [topic], "second")
    again: list[Message] = []
    deadline = time.monotonic() + 20
    while len(again) < 4 and time.monotonic() < deadline:
        again.extend(second.poll(10, 0.5))
    second.close()
    assert [m.value for m in again] == [b"2", b"3", b"4", b"5"]


def test_read_all_returns_every_message_to_the_end(bootstrap: str) -> None:
    topic = f"state-{uuid.uuid4().hex[:6]}"
    make_topics(bootstrap, topic)
    bus = KafkaBus(settings(bootstrap))
    producer = bus.publisher("test")
    for i in range(9):
        producer.publish(Output(topic, f"cam-{i % 3}", str(i).encode()))
    producer.flush(10)
    messages = bus.read_all(topic, timeout_s=20)
    assert sorted(int(m.value) for m in messages) == list(range(9))
    assert all(m.timestamp_ms > 1_600_000_000_000 for m in messages)  # record times kept
    assert bus.read_all(f"absent-{uuid.uuid4().hex[:6]}") == []


def test_stage_survives_the_broker_going_away_and_coming_back() -> None:
    """The memory-only broker loses everything on restart: the stage must neither crash nor
    stop being alive while it is away, and must work again once topics are back."""
    from vigie_runtime.broker import free_port, start_broker

    broker = start_broker(free_port())
    source, target = "away-in", "away-out"
    try:
        make_topics(broker.bootstrap, source, target)
        bus = KafkaBus(settings(broker.bootstrap))

        def handle(value: bytes, message: Message) -> list[Output]:
            return [Output(target, message.camera_id or "", value)]

        health = Health()
        stage = Stage("echo", [source], "away-group", lambda m: m.value, handle)
        runner = StageRunner(stage, bus, health, DEAD_LETTERS)
        stop = threading.Event()
        thread = threading.Thread(target=runner.run, args=(stop,))
        thread.start()
        try:
            producer = bus.publisher("test")
            producer.publish(Output(source, "cam", b"before"))
            producer.flush(10)
            assert [m.value for m in read_all(broker.bootstrap, target, 1)] == [b"before"]

            broker.stop()
            time.sleep(4)
            assert thread.is_alive() and health.alive()

            broker.restart()
            make_topics(broker.bootstrap, source, target)
            deadline = time.monotonic() + 60
            delivered: list[Message] = []
            while not delivered and time.monotonic() < deadline:
                producer.publish(Output(source, "cam", b"after"))
                producer.flush(10)
                delivered = [
                    m for m in read_all(broker.bootstrap, target, 1, 5) if m.value == b"after"
                ]
            assert delivered, "the stage did not resume after the broker came back"
        finally:
            stop.set()
            thread.join(60)
        assert not thread.is_alive()
    finally:
        broker.stop()


def test_a_rewound_subscriber_starts_that_many_messages_before_its_commit(bootstrap: str) -> None:
    """On assignment, a rewound topic's partitions start ``n`` messages before the committed
    offset (an in-memory window read again after a crash); other topics start at the commit."""
    rewound, plain = f"test.rewind-{uuid.uuid4().hex[:6]}", f"test.plain-{uuid.uuid4().hex[:6]}"
    admin = admin_client(bootstrap)
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in (rewound, plain)]).values():
        future.result()
    bus = KafkaBus(settings(bootstrap))
    publisher = bus.publisher("test")
    for n in range(10):
        publisher.publish(Output(rewound, "cam", str(n).encode()))
        publisher.publish(Output(plain, "cam", str(n).encode()))
    publisher.flush(10)
    group = f"rewind-{uuid.uuid4().hex[:6]}"

    def drain(sub: object, expected: int) -> list[Message]:
        got: list[Message] = []
        deadline = time.monotonic() + 20
        while len(got) < expected and time.monotonic() < deadline:
            got.extend(sub.poll(100, 0.3))  # type: ignore[attr-defined]
        return got

    first = bus.subscriber(group, [rewound, plain], "first")
    done = drain(first, 20)
    first.mark_done(done)
    first.close()  # commits

    second = bus.subscriber(group, [rewound, plain], "second", rewind={rewound: 4})
    again = drain(second, 4)
    time.sleep(1.0)
    again += second.poll(100, 0.5)
    second.close()
    assert sorted(int(m.value) for m in again if m.topic == rewound) == [6, 7, 8, 9]
    assert [m for m in again if m.topic == plain] == []


def test_a_subscriber_from_the_end_sees_only_what_comes_after_it_joined(bootstrap: str) -> None:
    topic = f"test.from-end-{uuid.uuid4().hex[:6]}"
    admin = admin_client(bootstrap)
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result()
    bus = KafkaBus(settings(bootstrap))
    publisher = bus.publisher("test")
    for n in range(5):
        publisher.publish(Output(topic, "cam", f"old-{n}".encode()))
    publisher.flush(10)
    live = bus.subscriber(f"live-{uuid.uuid4().hex[:6]}", [topic], "live", from_end=True)
    deadline = time.monotonic() + 20
    seen: list[Message] = []
    while not live.assigned() and time.monotonic() < deadline:
        seen.extend(live.poll(10, 0.2))
    time.sleep(1.0)  # the start position is resolved once assigned
    publisher.publish(Output(topic, "cam", b"new"))
    publisher.flush(10)
    while not any(m.value == b"new" for m in seen) and time.monotonic() < deadline:
        seen.extend(live.poll(10, 0.3))
    live.close()
    assert [m.value for m in seen] == [b"new"]


def test_a_consumer_reports_its_lag_per_partition(bootstrap: str) -> None:
    """vigie_consumer_lag: what is left to read, per group and partition, from the client's
    own statistics; it falls as the group reads, and goes with a revoked partition."""
    from prometheus_client import REGISTRY

    topic = f"test.lag.{uuid.uuid4().hex[:6]}"
    make_topics(bootstrap, topic)
    config = settings(bootstrap).model_copy(update={"stats_interval_ms": 200})
    bus = KafkaBus(config)
    publisher = bus.publisher("lag-test")
    for i in range(40):
        publisher.publish(Output(topic, "cam-lag", f"m{i}".encode()))
    publisher.flush(10)
    group = f"lag-{uuid.uuid4().hex[:6]}"
    sub = bus.subscriber(group, [topic], "lag-test")

    def lag() -> float | None:
        total = None
        for partition in range(2):
            value = REGISTRY.get_sample_value(
                "vigie_consumer_lag", {"group": group, "topic": topic, "partition": str(partition)}
            )
            if value is not None:
                total = (total or 0.0) + value
        return total

    try:
        read = sub.poll(10, 10)  # a first few, then the rest while the statistics come
        assert read
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not seen or seen[-1] > 0):
            sub.mark_done(read)
            read = sub.poll(1, 0.2)  # slowly, so that statistics come while behind
            time.sleep(0.1)
            if lag() is not None:
                seen.append(lag())
        assert seen and max(seen) > 0, seen  # it was behind, and said so
        assert seen[-1] == 0, seen  # and caught up
    finally:
        sub.close()
