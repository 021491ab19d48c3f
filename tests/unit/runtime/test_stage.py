"""The consume → handle → deliver → commit loop, run in a thread over the in-memory bus.

Waits are on conditions (``wait_until``) or events, never fixed sleeps; the back-off between
delivery retries is recorded by a stop event whose timed waits return at once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from prometheus_client import REGISTRY

from vigie_runtime import metrics
from vigie_runtime.bus import DeliveryError, Message, Output
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.stage import Reject, Stage, StageRunner

IN = "test.stage-in.v1"
OUT = "test.stage-out.v1"
DLQ = "test.stage-dead-letters.v1"
GROUP = "test-stage"


# -- helpers --------------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


def publish(bus: InMemoryBus, key: str, *values: bytes) -> None:
    publisher = bus.publisher("test")
    for value in values:
        publisher.publish(Output(IN, key, value))


def values(bus: InMemoryBus, topic: str) -> list[bytes]:
    return [m.value for m in bus.messages(topic)]


def lag(bus: InMemoryBus) -> int:
    return bus.lag(GROUP, [IN])


def unique(name: str) -> str:
    """A stage name of its own, so the process-wide metrics start from zero for this test."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def upper(value: bytes, message: Message) -> list[Output]:
    return [Output(OUT, message.camera_id or "", value.upper())]


def make_stage(name: str, **kwargs: Any) -> Stage[bytes]:
    kwargs.setdefault("decode", lambda m: m.value)
    kwargs.setdefault("handle", upper)
    return Stage(name=name, topics=[IN], group_id=GROUP, **kwargs)


def make_runner(
    stage: Stage[bytes], bus: Any, health: Health | None = None, max_batch: int = 64
) -> StageRunner[bytes]:
    return StageRunner(
        stage, bus, health or Health(), DLQ, max_batch=max_batch, poll_timeout_s=0.01
    )


@contextmanager
def running(
    runner: StageRunner[Any], stop: threading.Event | None = None
) -> Iterator[threading.Event]:
    """Run the stage in a thread; on exit set ``stop`` and require ``run`` to return cleanly."""
    stop = stop if stop is not None else threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            runner.run(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="stage-under-test", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=3)
    assert not thread.is_alive(), "run() did not return after stop"
    assert not errors, errors


class InstantBackoff(threading.Event):
    """A stop event whose timed waits return at once, recording the back-off asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return super().wait()
        self.waits.append(timeout)
        return super().wait(0)


class RecordingBus:
    """The in-memory bus behind a publisher that can fail, recording the loop's calls in order.

    Published outputs are held until ``flush``; a failing flush drops them (the broker never
    acknowledged them) and raises DeliveryError, a succeeding one appends them to the bus.
    ``failures`` is how many flushes fail before one succeeds; ``None`` means all of them.
    """

    def __init__(self, bus: InMemoryBus, failures: int | None = 0) -> None:
        self.bus = bus
        self.failures = failures
        self.events: list[tuple[Any, ...]] = []
        self.flush_failed = threading.Event()

    def publisher(self, client_id: str) -> _FlakyPublisher:
        return _FlakyPublisher(self)

    def subscriber(
        self, group_id: str, topics: Sequence[str], client_id: str, listener: Any = None
    ) -> _Subscriber:
        return _Subscriber(self, self.bus.subscriber(group_id, topics, client_id, listener))


class _FlakyPublisher:
    def __init__(self, owner: RecordingBus) -> None:
        self.owner = owner
        self.pending: list[Output] = []

    def publish(self, output: Output) -> None:
        self.pending.append(output)

    def flush(self, timeout_s: float) -> None:
        owner = self.owner
        failing = owner.failures is None or owner.failures > 0
        owner.events.append(("flush", not failing, lag(owner.bus)))
        if failing:
            if owner.failures is not None:
                owner.failures -= 1
            self.pending.clear()
            owner.flush_failed.set()
            raise DeliveryError("broker unavailable")
        for output in self.pending:
            owner.bus.append(output)
        self.pending.clear()

    def close(self) -> None:
        self.owner.events.append(("publisher.close",))


class _Subscriber:
    def __init__(self, owner: RecordingBus, inner: Any) -> None:
        self.owner = owner
        self.inner = inner

    def poll(self, max_messages: int, timeout_s: float) -> list[Message]:
        return self.inner.poll(max_messages, timeout_s)

    def mark_done(self, messages: Sequence[Message]) -> None:
        self.owner.events.append(("mark_done", tuple(m.offset for m in messages)))
        self.inner.mark_done(messages)

    def assigned(self) -> bool:
        return self.inner.assigned()

    def close(self) -> None:
        self.owner.events.append(("subscriber.close",))
        self.inner.close()


# -- the happy path -------------------------------------------------------------------------------


def test_outputs_are_published_and_inputs_marked_done() -> None:
    bus = InMemoryBus(default_partitions=3)
    for key in ("cam-a", "cam-b", "cam-c"):
        publish(bus, key, *(f"{key}-{i}".encode() for i in range(5)))
    runner = make_runner(make_stage("upper"), bus)

    with running(runner):
        wait_until(lambda: lag(bus) == 0)
        publish(bus, "cam-a", b"late")  # arrives while the stage waits on an empty poll
        wait_until(lambda: lag(bus) == 0 and len(bus.messages(OUT)) == 16)

    for key in ("cam-a", "cam-b", "cam-c"):
        mine = [m for m in bus.messages(OUT) if m.key == key.encode()]
        expected = [f"{key}-{i}".upper().encode() for i in range(5)]
        assert [m.value for m in mine] == expected + ([b"LATE"] if key == "cam-a" else [])
    assert bus.messages(DLQ) == []


def test_frames_are_counted_per_camera_when_the_stage_asks() -> None:
    name = unique("counting-frames")
    bus = InMemoryBus()
    publish(bus, "cam-1", b"a", b"b", b"c")
    publish(bus, "cam-2", b"d")
    with running(make_runner(make_stage(name, counts_frames=True), bus)):
        wait_until(lambda: lag(bus) == 0)
    frames = "vigie_camera_frames_total"
    assert sample(frames, {"stage": name, "camera": "cam-1"}) == 3
    assert sample(frames, {"stage": name, "camera": "cam-2"}) == 1


# -- dead letters ---------------------------------------------------------------------------------


BAD = b"\xff\x00 raw bytes \xfe"


def failing(where: str, exc: Exception) -> dict[str, Callable[..., Any]]:
    """A ``decode`` or ``handle`` that raises ``exc`` for the message ``BAD`` only."""

    def decode(message: Message) -> bytes:
        if message.value == BAD:
            raise exc
        return message.value

    def handle(value: bytes, message: Message) -> list[Output]:
        if value == BAD:
            raise exc
        return upper(value, message)

    return {"decode": decode} if where == "decode" else {"handle": handle}


@pytest.mark.parametrize(
    ("where", "exc", "kind"),
    [
        ("decode", ValueError("not a frame"), "decode"),
        ("handle", RuntimeError("model crashed"), "processing"),
        ("handle", Reject("unknown camera"), "processing"),
    ],
    ids=["decode-error", "handler-exception", "handler-reject"],
)
def test_a_failing_message_is_dead_lettered_and_later_ones_processed(
    where: str, exc: Exception, kind: str
) -> None:
    name = unique(f"dead-letters-{where}")
    bus = InMemoryBus()
    publish(bus, "cam-7", b"ok-1", BAD, b"ok-2")
    source = bus.messages(IN)[1]
    stage = make_stage(name, **failing(where, exc))

    with running(make_runner(stage, bus)):
        wait_until(lambda: lag(bus) == 0)

    assert values(bus, OUT) == [b"OK-1", b"OK-2"]
    [dead] = bus.messages(DLQ)
    assert dead.value == BAD
    assert dead.key == b"cam-7"
    reason = dead.headers["vigie.reason"].decode()
    assert reason.startswith(f"{kind}:"), reason
    assert type(exc).__name__ in reason
    assert str(exc) in reason
    assert dead.headers["vigie.stage"] == name.encode()
    assert dead.headers["vigie.source.topic"] == IN.encode()
    assert dead.headers["vigie.source.partition"] == str(source.partition).encode()
    assert dead.headers["vigie.source.offset"] == str(source.offset).encode()
    assert sample("vigie_dead_letters_total", {"stage": name, "topic": IN}) == 1
    assert sample("vigie_errors_total", {"stage": name, "kind": kind}) == 1


MIXED_BATCH = (b"ok-1", b"undecodable", b"ok-2", b"explodes", b"ok-3")


def decode_unless_undecodable(message: Message) -> bytes:
    if message.value == b"undecodable":
        raise ValueError("truncated protobuf")
    return message.value


def upper_unless_explodes(value: bytes, message: Message) -> list[Output]:
    if value == b"explodes":
        raise ZeroDivisionError("division by zero")
    return upper(value, message)


def test_decode_and_handler_failures_in_one_batch_each_get_their_dead_letter() -> None:
    bus = InMemoryBus()
    publish(bus, "cam-1", *MIXED_BATCH)
    stage = make_stage("mixed", decode=decode_unless_undecodable, handle=upper_unless_explodes)
    with running(make_runner(stage, bus)):
        wait_until(lambda: lag(bus) == 0)

    assert values(bus, OUT) == [b"OK-1", b"OK-2", b"OK-3"]
    dead = bus.messages(DLQ)
    assert [d.value for d in dead] == [b"undecodable", b"explodes"]
    assert [d.headers["vigie.source.offset"] for d in dead] == [b"1", b"3"]
    assert dead[0].headers["vigie.reason"].startswith(b"decode: ValueError")
    assert dead[1].headers["vigie.reason"].startswith(b"processing: ZeroDivisionError")


def test_a_stage_that_does_not_dead_letter_leaves_bad_messages_out_and_goes_on() -> None:
    """A group per replica: every replica would write its own letter for one bad message."""
    bus = InMemoryBus()
    publish(bus, "cam-1", *MIXED_BATCH)

    stage = make_stage(
        "per-replica",
        decode=decode_unless_undecodable,
        handle=upper_unless_explodes,
        dead_letters=False,
    )
    with running(make_runner(stage, bus)):
        wait_until(lambda: lag(bus) == 0)

    assert values(bus, OUT) == [b"OK-1", b"OK-2", b"OK-3"]
    assert bus.messages(DLQ) == []
    assert metrics.ERRORS.labels("per-replica", "decode")._value.get() == 1
    assert metrics.ERRORS.labels("per-replica", "processing")._value.get() == 1
    assert metrics.DEAD_LETTERS.labels("per-replica", IN)._value.get() == 0


# -- ordering of the batch steps ------------------------------------------------------------------


def test_before_commit_runs_once_per_batch_before_the_offsets_are_committed() -> None:
    bus = InMemoryBus()
    publish(bus, "cam-1", *(f"m{i}".encode() for i in range(5)))
    recording = RecordingBus(bus)
    events = recording.events

    def handle(value: bytes, message: Message) -> list[Output]:
        events.append(("handle", message.offset))
        return upper(value, message)

    def before_commit() -> None:
        events.append(("before_commit", lag(bus)))

    stage = make_stage("ordered", handle=handle, before_commit=before_commit)
    with running(make_runner(stage, recording, max_batch=2)):
        wait_until(lambda: lag(bus) == 0)

    assert events == [
        ("handle", 0),
        ("handle", 1),
        ("before_commit", 5),
        ("flush", True, 5),
        ("mark_done", (0, 1)),
        ("handle", 2),
        ("handle", 3),
        ("before_commit", 3),
        ("flush", True, 3),
        ("mark_done", (2, 3)),
        ("handle", 4),
        ("before_commit", 1),
        ("flush", True, 1),
        ("mark_done", (4,)),
        ("publisher.close",),
        ("subscriber.close",),
    ]


# -- delivery failures ----------------------------------------------------------------------------


def test_failed_deliveries_are_retried_and_inputs_committed_only_after_success() -> None:
    name = unique("flaky-broker")
    bus = InMemoryBus()
    publish(bus, "cam-1", b"a", b"b", b"c")
    recording = RecordingBus(bus, failures=2)
    stop = InstantBackoff()

    with running(make_runner(make_stage(name), recording), stop):
        wait_until(lambda: lag(bus) == 0)

    assert values(bus, OUT) == [b"A", b"B", b"C"]
    batch_events = [e for e in recording.events if e[0] in ("flush", "mark_done")]
    assert batch_events == [
        ("flush", False, 3),
        ("flush", False, 3),
        ("flush", True, 3),
        ("mark_done", (0, 1, 2)),
    ]
    assert len(stop.waits) == 2
    assert 0 < stop.waits[0] < stop.waits[1], "back-off should grow between retries"
    assert sample("vigie_errors_total", {"stage": name, "kind": "delivery"}) == 2
    assert sample("vigie_messages_out_total", {"stage": name, "topic": OUT}) == 3


def test_stopping_while_delivery_keeps_failing_leaves_the_inputs_uncommitted() -> None:
    bus = InMemoryBus()
    publish(bus, "cam-1", b"a", b"b", b"c")
    recording = RecordingBus(bus, failures=None)

    with running(make_runner(make_stage("broker-away"), recording)) as stop:
        assert recording.flush_failed.wait(3)
        # The stage is now in its back-off wait; stop must cut it short.
        started = time.monotonic()
        stop.set()
    assert time.monotonic() - started < 1.0

    assert lag(bus) == 3
    assert bus.messages(OUT) == []
    assert not [e for e in recording.events if e[0] == "mark_done"]
    assert recording.events[-2:] == [("publisher.close",), ("subscriber.close",)]

    # At-least-once: once the broker is back, the same group processes the same inputs.
    with running(make_runner(make_stage("broker-back"), RecordingBus(bus))):
        wait_until(lambda: lag(bus) == 0)
    assert values(bus, OUT) == [b"A", b"B", b"C"]


# -- idle time and stopping -----------------------------------------------------------------------


def test_on_idle_outputs_are_delivered() -> None:
    bus = InMemoryBus()
    ticks = [Output(OUT, "cam-9", b"timeout-event"), Output(OUT, "cam-9", b"second")]
    calls = 0

    def on_idle() -> list[Output]:
        nonlocal calls
        calls += 1
        return [ticks.pop(0)] if ticks else []

    with running(make_runner(make_stage("idle", on_idle=on_idle), bus)):
        wait_until(lambda: len(bus.messages(OUT)) == 2 and calls > 2)

    assert values(bus, OUT) == [b"timeout-event", b"second"]
    assert [m.key for m in bus.messages(OUT)] == [b"cam-9", b"cam-9"]
    assert lag(bus) == 0


def test_on_idle_outputs_wait_for_a_failing_broker() -> None:
    bus = InMemoryBus()
    sent = threading.Event()

    def on_idle() -> list[Output]:
        if sent.is_set():
            return []
        sent.set()
        return [Output(OUT, "cam-9", b"idle")]

    recording = RecordingBus(bus, failures=2)
    with running(
        make_runner(make_stage("idle-flaky", on_idle=on_idle), recording), InstantBackoff()
    ):
        wait_until(lambda: len(bus.messages(OUT)) == 1)
    assert values(bus, OUT) == [b"idle"]
    assert [e[1] for e in recording.events if e[0] == "flush"] == [False, False, True]


def test_stop_ends_run_promptly_and_the_subscriber_leaves_the_group() -> None:
    name = "stoppable"
    bus = InMemoryBus(default_partitions=4)
    health = Health()
    stage = make_stage(name, extra_ready=[lambda: True])
    runner = StageRunner(stage, bus, health, DLQ, poll_timeout_s=0.05)

    with running(runner) as stop:
        wait_until(lambda: f"{name}.assigned" in health.readiness())
        assert health.readiness() == {f"{name}.assigned": True, f"{name}.ready0": True}
        assert health.ready()
        started = time.monotonic()
        stop.set()
    assert time.monotonic() - started < 1.0

    # Had the stopped member stayed in the group, it would still hold half the partitions.
    for i in range(32):
        publish(bus, f"cam-{i}", b"after-stop")
    newcomer = bus.subscriber(GROUP, [IN], "newcomer")
    received = newcomer.poll(1000, 0)
    assert len(received) == 32
    assert {m.partition for m in received} == {0, 1, 2, 3}


def test_a_stage_not_ready_reports_it() -> None:
    health = Health()
    stage = make_stage("not-ready", extra_ready=[lambda: False])
    with running(make_runner(stage, InMemoryBus(), health)):
        wait_until(lambda: "not-ready.ready0" in health.readiness())
        assert health.readiness()["not-ready.ready0"] is False
        assert not health.ready()
