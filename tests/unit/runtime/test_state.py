"""Per-camera state through the stage runner over the in-memory bus: saved with each batch,
restored from the assigned partitions only, dropped on revoke, refused loudly when unusable."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from prometheus_client import REGISTRY

from vigie_runtime.bus import Message, Output
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.state import (
    DocumentState,
    StateKeeper,
    StateSpec,
    StateUnavailable,
    TopicStateStore,
)

IN = "test.state-in.v1"
OUT = "test.state-out.v1"
STATE = "test.state-state.v1"
DLQ = "test.state-dead-letters.v1"
GROUP = "test-state"
PARTITIONS = 4


class Counter:
    """A stage whose state is a running count per camera, echoed with every message."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.loaded: list[str] = []
        self.dropped: list[str] = []

    def handle(self, value: bytes, message: Message) -> list[Output]:
        camera = message.camera_id or ""
        self.counts[camera] = self.counts.get(camera, 0) + 1
        return [Output(OUT, camera, str(self.counts[camera]).encode())]

    def save(self, camera: str) -> Mapping[str, Any] | None:
        count = self.counts.get(camera)
        return None if count is None else {"count": count}

    def load(self, camera: str, document: Mapping[str, Any]) -> None:
        count = document.get("count")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"count: expected a natural number, got {count!r}")
        self.counts[camera] = count
        self.loaded.append(camera)

    def drop(self, camera: str) -> None:
        self.counts.pop(camera, None)
        self.dropped.append(camera)


def bus_with_topics() -> InMemoryBus:
    bus = InMemoryBus(default_partitions=PARTITIONS)
    for topic in (IN, OUT, STATE):
        bus.partition_count(topic)  # created with the default count
    return bus


def runner(bus: InMemoryBus, counter: Counter) -> StageRunner[bytes]:
    stage = Stage(
        name="counting",
        topics=[IN],
        group_id=GROUP,
        decode=lambda m: m.value,
        handle=counter.handle,
        state=StateSpec(counter, topic=STATE, follows=IN),
    )
    return StageRunner(stage, bus, Health(), DLQ, max_batch=8, poll_timeout_s=0.01)


@contextmanager
def running(stage_runner: StageRunner[bytes]) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=stage_runner.run, args=(stop,))
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(5)
        assert not thread.is_alive()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


def publish(bus: InMemoryBus, camera: str, n: int) -> None:
    for _ in range(n):
        bus.append(Output(IN, camera, b"x"))


def echoed(bus: InMemoryBus, camera: str) -> list[int]:
    return [int(m.value) for m in bus.messages(OUT) if m.camera_id == camera]


CAMERAS = [f"cam-{n}" for n in range(8)]


def test_state_goes_out_with_the_batch_and_a_restarted_replica_continues() -> None:
    bus = bus_with_topics()
    for camera in CAMERAS:
        publish(bus, camera, 3)
    first = Counter()
    with running(runner(bus, first)):
        wait_until(lambda: bus.lag(GROUP, [IN]) == 0)
    saved = {m.camera_id: json.loads(m.value) for m in bus.messages(STATE)}
    assert saved == {camera: {"count": 3} for camera in CAMERAS}

    for camera in CAMERAS:
        publish(bus, camera, 2)
    second = Counter()
    with running(runner(bus, second)):
        wait_until(lambda: bus.lag(GROUP, [IN]) == 0)

    assert sorted(second.loaded) == CAMERAS
    for camera in CAMERAS:
        assert echoed(bus, camera) == [1, 2, 3, 4, 5]  # no count restarted, none repeated


def test_two_replicas_share_the_cameras_and_the_survivor_takes_over_with_their_state() -> None:
    bus = bus_with_topics()
    left, right = Counter(), Counter()
    with running(runner(bus, left)):
        with running(runner(bus, right)):
            for camera in CAMERAS:
                publish(bus, camera, 4)
            wait_until(lambda: bus.lag(GROUP, [IN]) == 0)
            # Each replica holds the cameras of its own partitions, and only those.
            assert left.counts.keys().isdisjoint(right.counts.keys())
            assert set(left.counts) | set(right.counts) == set(CAMERAS)
            assert left.counts and right.counts
            theirs = set(right.counts)
        # ``right`` left: ``left`` was given its partitions and read their cameras back.
        for camera in CAMERAS:
            publish(bus, camera, 1)
        wait_until(lambda: bus.lag(GROUP, [IN]) == 0)
        assert theirs <= set(left.loaded)
        assert left.counts == {camera: 5 for camera in CAMERAS}
    for camera in CAMERAS:
        assert echoed(bus, camera) == [1, 2, 3, 4, 5]


def test_a_revoked_camera_is_dropped_and_never_saved_again() -> None:
    bus = bus_with_topics()
    counter = Counter()
    keeper = StateKeeper("dropping", counter, TopicStateStore(bus, STATE), IN, retry_s=0)
    counter.counts["cam-a"] = 2
    keeper.touched("cam-a", 1)
    keeper.revoked([(IN, 1)])

    assert counter.dropped == ["cam-a"]
    assert keeper.outputs() == []
    assert not keeper.owns("cam-a")


def test_assignment_of_another_topic_restores_nothing() -> None:
    bus = bus_with_topics()
    bus.append(Output(STATE, "cam-a", b'{"count": 1}'))
    counter = Counter()
    keeper = StateKeeper("other-topic", counter, TopicStateStore(bus, STATE), IN, retry_s=0)
    keeper.assigned([("some.other.topic", p) for p in range(PARTITIONS)])
    assert counter.loaded == []


def discarded(stage: str) -> float:
    return REGISTRY.get_sample_value("vigie_state_discarded_total", {"stage": stage}) or 0.0


@pytest.mark.parametrize(
    "value",
    [b'{"count": -1}', b'{"count": "three"}', b"{}"],
    ids=["negative", "not-a-number", "empty"],
)
def test_an_unusable_state_is_counted_and_the_camera_starts_afresh(value: bytes) -> None:
    bus = bus_with_topics()
    bus.append(Output(STATE, "cam-a", value))
    counter = Counter()
    stage = f"unusable-{len(value)}-{value[-3:].hex()}"
    before = discarded(stage)
    keeper = StateKeeper(stage, counter, TopicStateStore(bus, STATE), IN, retry_s=0)

    keeper.assigned([(IN, p) for p in range(PARTITIONS)])

    assert counter.counts == {}
    assert discarded(stage) == before + 1


def test_the_topic_store_keeps_the_newest_readable_document_and_honours_tombstones() -> None:
    bus = bus_with_topics()
    for value in (b'{"count": 1}', b'{"count": 2}', b"{broken", b"[1]"):
        bus.append(Output(STATE, "cam-a", value))
    bus.append(Output(STATE, "cam-b", b'{"count": 7}'))
    bus.append(Output(STATE, "cam-b", b""))  # deleted

    read = TopicStateStore(bus, STATE).read(range(PARTITIONS))

    assert {camera: doc for camera, (_, doc) in read.items()} == {"cam-a": {"count": 2}}


def test_a_store_that_cannot_be_read_stops_the_stage_with_the_reason() -> None:
    class Broken:
        def read(self, partitions: Any) -> dict[str, Any]:
            raise TimeoutError("broker away")

        def write(self, camera: str, document: Any) -> list[Output]:
            return []

    keeper = StateKeeper("broken", Counter(), Broken(), IN, attempts=2, retry_s=0)
    with pytest.raises(StateUnavailable, match="broker away"):
        keeper.assigned([(IN, 0)])


def test_a_state_topic_partitioned_unlike_its_input_is_refused_at_start() -> None:
    bus = InMemoryBus(default_partitions=PARTITIONS)
    bus.partition_count(IN)
    narrow = InMemoryBus(default_partitions=1)
    bus._topics[STATE] = narrow._topic(STATE)
    with pytest.raises(RuntimeError, match="partitions"):
        runner(bus, Counter()).run(threading.Event())


def test_document_state_marks_what_was_written_and_forgets_dropped_cameras() -> None:
    state = DocumentState()
    state["cam-a"] = {"open": 1}
    state["cam-b"] = {"open": 2}
    assert state.take_changed() == {"cam-a", "cam-b"}
    assert state.take_changed() == set()

    state.load("cam-c", {"open": 3})  # read back: not a change to save again
    assert state.take_changed() == set()
    assert state.save("cam-c") == {"open": 3}

    state["cam-a"] = {"open": 4}
    state.drop("cam-a")
    assert state.take_changed() == set()
    assert set(state) == {"cam-b", "cam-c"}
