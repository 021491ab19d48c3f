"""The message contract checks each decoded message's time before the handler sees it.

A message whose time is out of bounds is dead-lettered with a reason starting ``time: `` and the
headers every dead letter has; one within bounds is handled; ``time_of=None`` turns the check off.
Times are near the machine's clock, as the contract's guard reads ``time.time``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from vigie_core.types import Box, Detection, FrameDetections, FrameRef
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import TimeBounds
from vigie_runtime.stage import MessageContract, Stage, StageRunner

IN = "test.time-in.v1"
OUT = "test.time-out.v1"
DLQ = "test.time-dead-letters.v1"
CAMERA = "cam-time"
YEAR_2099 = 4_070_908_800.0
DAY = 86_400.0


def unique(name: str) -> str:
    """A stage name of its own, so the process-wide metrics start from zero for this test."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def detections(t: float, sequence: int = 0) -> FrameDetections:
    return FrameDetections(
        FrameRef(CAMERA, sequence, t, 640, 480),
        (Detection(Box(0.1, 0.2, 0.3, 0.8), "person", 0.9),),
        "fake",
    )


def message(t: float, offset: int = 0, record_ms: int | None = None) -> Message:
    """A detections record at ``offset``, its record stamped now unless told otherwise."""
    stamp = int(time.time() * 1000) if record_ms is None else record_ms
    value = codec.encode(detections(t, offset))
    return Message(IN, 0, offset, CAMERA.encode(), value, {}, stamp)


class Recorder:
    """A handle that records what it saw and echoes the frame's sequence."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def __call__(self, item: FrameDetections, message: Message) -> list[Output]:
        self.seen.append(item.frame.captured_at)
        return [Output(OUT, CAMERA, str(item.frame.sequence).encode())]


def make_stage(name: str, handle: Recorder, **kwargs: Any) -> Stage[FrameDetections]:
    return Stage(
        name=name,
        topics=[IN],
        group_id=f"group-{name}",
        decode=lambda m: codec.decode_detections(m.value, key=m.key),
        handle=handle,
        **kwargs,
    )


def contract(handle: Recorder, **kwargs: Any) -> tuple[str, MessageContract[FrameDetections]]:
    name = unique("time-stage")
    return name, MessageContract(make_stage(name, handle, **kwargs), DLQ)


def dead_letters(stage: str) -> float:
    value = REGISTRY.get_sample_value("vigie_dead_letters_total", {"stage": stage, "topic": IN})
    return value or 0.0


def time_errors(stage: str) -> float:
    value = REGISTRY.get_sample_value("vigie_errors_total", {"stage": stage, "kind": "time"})
    return value or 0.0


# -- the contract ---------------------------------------------------------------------------------


def test_a_message_from_2099_is_one_dead_letter_and_never_handled() -> None:
    handle = Recorder()
    name, c = contract(handle)
    hostile = message(YEAR_2099, offset=41)

    (letter,) = c.process(hostile)

    assert handle.seen == []
    assert letter.topic == DLQ
    assert letter.key == CAMERA
    assert letter.value == hostile.value  # the original bytes, untouched
    reason = letter.headers["vigie.reason"]
    assert reason.startswith("time: TimeRefused: ")
    assert "2099-01-01" in reason
    assert "time.max_future_s" in reason
    assert letter.headers["vigie.stage"] == name
    assert letter.headers["vigie.source.topic"] == IN
    assert letter.headers["vigie.source.partition"] == "0"
    assert letter.headers["vigie.source.offset"] == "41"
    assert dead_letters(name) == 1.0
    assert time_errors(name) == 1.0


@pytest.mark.parametrize(
    "t",
    [
        pytest.param(YEAR_2099, id="2099"),
        pytest.param(time.time() + 3600.0, id="an-hour-ahead"),
        pytest.param(915_148_800.0, id="1999"),
        pytest.param(time.time() - 8 * DAY, id="eight-days-behind"),
    ],
)
def test_every_hostile_time_is_refused(t: float) -> None:
    handle = Recorder()
    _, c = contract(handle)

    (letter,) = c.process(message(t))

    assert letter.topic == DLQ
    assert letter.headers["vigie.reason"].startswith("time: ")
    assert handle.seen == []


@pytest.mark.parametrize(
    "behind_s", [0.0, 1.0, 30.0, 3600.0, 6 * DAY], ids=["now", "1s", "30s", "1h", "6d"]
)
def test_a_message_within_bounds_is_handled(behind_s: float) -> None:
    handle = Recorder()
    name, c = contract(handle)
    t = time.time() - behind_s

    (output,) = c.process(message(t, offset=3))

    assert output == Output(OUT, CAMERA, b"3")
    assert handle.seen == [t]
    assert dead_letters(name) == 0.0


def test_a_little_ahead_within_the_skew_is_handled() -> None:
    handle = Recorder()
    _, c = contract(handle)
    t = time.time() + 2.0

    (output,) = c.process(message(t))

    assert output.topic == OUT
    assert handle.seen == [t]


def test_time_of_none_turns_the_check_off() -> None:
    handle = Recorder()
    name, c = contract(handle, time_of=None)

    (output,) = c.process(message(YEAR_2099))

    assert output.topic == OUT
    assert handle.seen == [YEAR_2099]
    assert dead_letters(name) == 0.0


def test_a_time_of_that_knows_no_time_checks_nothing() -> None:
    handle = Recorder()
    _, c = contract(handle, time_of=lambda item: None)

    (output,) = c.process(message(YEAR_2099))

    assert output.topic == OUT


def test_the_stage_s_time_of_is_the_time_checked() -> None:
    handle = Recorder()
    _, c = contract(handle, time_of=lambda item: YEAR_2099)

    (letter,) = c.process(message(time.time()))

    assert letter.topic == DLQ
    assert letter.headers["vigie.reason"].startswith("time: TimeRefused: ")
    assert handle.seen == []


def test_the_stage_s_bounds_are_the_bounds_checked() -> None:
    handle = Recorder()
    _, c = contract(handle, time_bounds=TimeBounds(max_future_s=3600.0, max_past_s=60.0))
    now = time.time()

    (ahead,) = c.process(message(now + 1800.0))
    (behind,) = c.process(message(now - 120.0, offset=1))

    assert ahead.topic == OUT
    assert behind.topic == DLQ
    assert "time.max_past_s: 60" in behind.headers["vigie.reason"]


def test_an_undecodable_message_is_a_decode_dead_letter_not_a_time_one() -> None:
    handle = Recorder()
    _, c = contract(handle)
    garbage = Message(IN, 0, 0, CAMERA.encode(), b"\xff\xff garbage", {}, 0)

    (letter,) = c.process(garbage)

    assert letter.headers["vigie.reason"].startswith("decode: ")


# -- the record's timestamp -----------------------------------------------------------------------


def test_the_record_timestamp_bounds_the_time_it_carries() -> None:
    """An hour old by the stage's clock is fine, but not when its producer created the record a
    month earlier: the time is then far ahead of when it was written."""
    handle = Recorder()
    _, c = contract(handle)
    now = time.time()
    t = now - 3600.0

    (letter,) = c.process(message(t, record_ms=int((now - 30 * DAY) * 1000)))
    (handled,) = c.process(message(t, offset=1, record_ms=int(now * 1000)))

    assert "ahead of its record's timestamp" in letter.headers["vigie.reason"]
    assert handled.topic == OUT


def test_an_old_backlog_is_bounded_by_its_records_not_by_the_clock() -> None:
    """Records written a month ago, read now: their times match their records, so they pass;
    without a record timestamp the clock alone refuses them."""
    handle = Recorder()
    _, c = contract(handle)
    written = time.time() - 30 * DAY

    (handled,) = c.process(message(written - 1.0, record_ms=int(written * 1000)))
    (letter,) = c.process(message(written - 1.0, offset=1, record_ms=0))

    assert handled.topic == OUT
    assert "behind this stage's clock" in letter.headers["vigie.reason"]


# -- the loop over the in-memory bus --------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture
def bus() -> InMemoryBus:
    return InMemoryBus()


@pytest.fixture
def run_stage(bus: InMemoryBus) -> Iterator[Callable[[Stage[Any]], StageRunner[Any]]]:
    stops: list[tuple[threading.Event, threading.Thread]] = []

    def start(stage: Stage[Any]) -> StageRunner[Any]:
        runner = StageRunner(stage, bus, Health(), DLQ, poll_timeout_s=0.01)
        stop = threading.Event()
        thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
        thread.start()
        stops.append((stop, thread))
        return runner

    yield start
    for stop, thread in stops:
        stop.set()
        thread.join(5)
        assert not thread.is_alive()


def publish(bus: InMemoryBus, *frames: FrameDetections) -> None:
    for frame in frames:
        bus.append(Output(IN, CAMERA, codec.encode(frame)))


def test_the_runner_dead_letters_out_of_bounds_times_and_goes_on(
    bus: InMemoryBus, run_stage: Callable[[Stage[Any]], StageRunner[Any]]
) -> None:
    handle = Recorder()
    now = time.time()
    run_stage(make_stage(unique("time-runner"), handle))

    publish(
        bus,
        detections(now - 2.0, 0),
        detections(YEAR_2099, 1),
        detections(now + 3600.0, 2),
        detections(915_148_800.0, 3),
        detections(now - 1.0, 4),
    )
    wait_until(lambda: len(bus.messages(OUT)) + len(bus.messages(DLQ)) == 5)

    assert [m.value for m in bus.messages(OUT)] == [b"0", b"4"]
    letters = bus.messages(DLQ)
    assert [m.headers["vigie.source.offset"] for m in letters] == [b"1", b"2", b"3"]
    assert all(m.headers["vigie.reason"].startswith(b"time: TimeRefused: ") for m in letters)
    assert {m.headers["vigie.source.topic"] for m in letters} == {IN.encode()}
    assert handle.seen == [now - 2.0, now - 1.0]


def test_the_in_memory_bus_stamps_records_with_the_wall_clock_and_the_runner_uses_it(
    bus: InMemoryBus, run_stage: Callable[[Stage[Any]], StageRunner[Any]]
) -> None:
    """Eight days behind the clock: the record the bus stamped now bounds it (max_past_s)."""
    handle = Recorder()
    before = time.time()
    publish(bus, detections(before - 8 * DAY, 0))
    (record,) = bus.messages(IN)
    assert before * 1000 - 1 <= record.timestamp_ms <= time.time() * 1000 + 1

    run_stage(make_stage(unique("time-record"), handle))
    wait_until(lambda: bool(bus.messages(DLQ)))

    (letter,) = bus.messages(DLQ)
    reason = letter.headers["vigie.reason"].decode()
    assert reason.startswith("time: TimeRefused: ")
    assert "behind its record's timestamp" in reason
    assert "time.max_past_s" in reason
    assert handle.seen == []
