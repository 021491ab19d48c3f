"""Event frames pinned for their alerts: found by capture time, released by the snapshot,
expired by the clock, bounded in number whatever the events say."""

from __future__ import annotations

from dataclasses import dataclass

from vigie_core.types import FrameRef
from vigie_storage.pins import FramePins


@dataclass
class Frame:
    sequence: int
    captured_at: float
    jpeg: bytes = b"x" * 10


def ref(seq: int, t: float, camera: str = "cam") -> FrameRef:
    return FrameRef(camera, seq, t, 160, 90)


def test_a_pinned_frame_is_found_by_sequence_and_capture_time() -> None:
    pins: FramePins[Frame] = FramePins(pin_s=60, max_pinned=10, max_bytes=10_000)
    frame = Frame(5, 100.0)
    pins.pin(ref(5, 100.0), frame, now=0)
    assert pins.find(ref(5, 100.0)) is frame
    assert pins.find(ref(5, 101.0)) is None  # same sequence, another frame (capture restarted)
    assert pins.find(ref(5, 100.0, camera="other")) is None


def test_a_pin_made_before_its_frame_was_read_takes_the_frame_when_it_comes() -> None:
    pins: FramePins[Frame] = FramePins(pin_s=60, max_pinned=10, max_bytes=10_000)
    pins.pin(ref(5, 100.0), None, now=0)
    assert pins.find(ref(5, 100.0)) is None
    pins.offer("cam", Frame(5, 99.0))  # not this one
    assert pins.find(ref(5, 100.0)) is None
    frame = Frame(5, 100.0)
    pins.offer("cam", frame)
    assert pins.find(ref(5, 100.0)) is frame


def test_the_snapshot_releases_its_pin() -> None:
    pins: FramePins[Frame] = FramePins(pin_s=60, max_pinned=10, max_bytes=10_000)
    pins.pin(ref(5, 100.0), Frame(5, 100.0), now=0)
    pins.release(ref(5, 100.0))
    assert len(pins) == 0 and pins.find(ref(5, 100.0)) is None


def test_a_second_event_on_the_same_frame_keeps_the_first_pin_and_its_clock() -> None:
    pins: FramePins[Frame] = FramePins(pin_s=60, max_pinned=10, max_bytes=10_000)
    frame = Frame(5, 100.0)
    pins.pin(ref(5, 100.0), frame, now=0)
    pins.pin(ref(5, 100.0), None, now=50)
    assert pins.find(ref(5, 100.0)) is frame
    pins.expire(now=60)
    assert len(pins) == 0


def test_pins_expire_after_pin_s_oldest_first() -> None:
    pins: FramePins[Frame] = FramePins(pin_s=60, max_pinned=10, max_bytes=10_000)
    pins.pin(ref(1, 100.0), Frame(1, 100.0), now=0)
    pins.pin(ref(2, 100.1), Frame(2, 100.1), now=30)
    pins.expire(now=59)
    assert len(pins) == 2
    pins.expire(now=60)
    assert pins.find(ref(1, 100.0)) is None and pins.find(ref(2, 100.1)) is not None


def test_pins_are_bounded_the_oldest_going_first() -> None:
    pins: FramePins[Frame] = FramePins(pin_s=60, max_pinned=3, max_bytes=10_000)
    for n in range(10):
        pins.pin(ref(n, 100.0 + n), Frame(n, 100.0 + n), now=n)
    assert len(pins) == 3
    assert [pins.find(ref(n, 100.0 + n)) is not None for n in (6, 7, 8, 9)] == [
        False,
        True,
        True,
        True,
    ]


def test_max_pinned_zero_pins_nothing() -> None:
    pins: FramePins[Frame] = FramePins(pin_s=60, max_pinned=0, max_bytes=10_000)
    pins.pin(ref(1, 100.0), Frame(1, 100.0), now=0)
    assert len(pins) == 0


def test_pinned_bytes_are_bounded_whatever_the_frames_weigh() -> None:
    pins: FramePins[Frame] = FramePins(pin_s=60, max_pinned=100, max_bytes=2_500)
    for n in range(5):
        pins.pin(ref(n, 100.0 + n), Frame(n, 100.0 + n, b"x" * 1_000), now=n)
    assert len(pins) == 2 and pins.bytes == 2_000
    pins.pin(ref(9, 200.0), None, now=9)  # waiting for its frame: no bytes yet
    pins.offer("cam", Frame(9, 200.0, b"x" * 1_000))  # its frame comes: the oldest goes
    assert pins.bytes == 2_000 and pins.find(ref(9, 200.0)) is not None
    pins.release(ref(9, 200.0))
    pins.expire(now=1_000)
    assert pins.bytes == 0 and len(pins) == 0


def test_a_camera_whose_sequence_started_again_replaces_its_old_pin() -> None:
    pins: FramePins[Frame] = FramePins(pin_s=60, max_pinned=10, max_bytes=10_000)
    pins.pin(ref(5, 100.0), Frame(5, 100.0), now=0)
    pins.pin(ref(5, 500.0), Frame(5, 500.0), now=1)
    assert len(pins) == 1 and pins.bytes == 10
    assert pins.find(ref(5, 500.0)) is not None and pins.find(ref(5, 100.0)) is None
