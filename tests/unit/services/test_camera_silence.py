"""A capture that falls silent raises camera_offline; one that said it stopped does not."""

from __future__ import annotations

from vigie.v1 import cameras_pb2
from vigie_alerting.camera_silence import CameraSilence
from vigie_core.types import EventKind
from vigie_runtime import codec
from vigie_runtime.bus import Message
from vigie_runtime.topics import CAMERA_STATUS, EVENTS

T0 = 1_800_000_000.0


def status(camera: str, state: int, at: float, partition: int = 0) -> Message:
    body = cameras_pb2.CameraStatus(
        camera_id=camera,
        state=state,  # type: ignore[arg-type]
        since=codec.time_to_proto(at),
        reported_at=codec.time_to_proto(at),
        frames_per_second=10.0,
    )
    return Message(CAMERA_STATUS, partition, 0, camera.encode(), body.SerializeToString())


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def hear(silence: CameraSilence, message: Message) -> list[object]:
    return list(silence.handle(silence.decode(message), message))


def test_silence_beyond_the_threshold_raises_one_camera_offline() -> None:
    clock = Clock()
    silence = CameraSilence(30.0, clock)
    assert hear(silence, status("gate", cameras_pb2.CAMERA_STATE_ONLINE, T0)) == []
    clock.now = T0 + 29
    assert silence.check() == []
    clock.now = T0 + 31
    [output] = silence.check()
    assert output.topic == EVENTS and output.key == "gate"
    event = codec.decode_event(output.value)
    assert event.kind == EventKind.CAMERA_OFFLINE
    assert event.details["status"] == "silent"
    assert float(event.details["threshold_s"]) == 30.0
    assert event.frame.captured_at == T0 + 30  # the last status heard plus the threshold
    clock.now = T0 + 300
    assert silence.check() == []  # once per silence


def test_a_camera_heard_again_is_watched_afresh() -> None:
    clock = Clock()
    silence = CameraSilence(30.0, clock)
    hear(silence, status("gate", cameras_pb2.CAMERA_STATE_ONLINE, T0))
    clock.now = T0 + 31
    [first] = silence.check()
    hear(silence, status("gate", cameras_pb2.CAMERA_STATE_ONLINE, T0 + 100))
    clock.now = T0 + 131
    [second] = silence.check()
    assert codec.decode_event(first.value).event_id != codec.decode_event(second.value).event_id


def test_a_camera_capture_said_was_offline_is_not_watched() -> None:
    """A file that ended, a capture stopped on purpose, an outage capture already alerted on."""
    clock = Clock()
    silence = CameraSilence(30.0, clock)
    hear(silence, status("gate", cameras_pb2.CAMERA_STATE_OFFLINE, T0))
    clock.now = T0 + 3600
    assert silence.check() == []


def test_a_stalled_camera_whose_capture_then_dies_is_alerted() -> None:
    clock = Clock()
    silence = CameraSilence(30.0, clock)
    hear(silence, status("gate", cameras_pb2.CAMERA_STATE_STALLED, T0))
    clock.now = T0 + 31
    assert len(silence.check()) == 1


def test_replicas_that_saw_the_same_silence_raise_the_same_event() -> None:
    events = []
    for _ in range(2):
        clock = Clock()
        silence = CameraSilence(30.0, clock)
        hear(silence, status("gate", cameras_pb2.CAMERA_STATE_ONLINE, T0))
        clock.now = T0 + 45.5  # noticed at different moments by each: the same event
        events.append(codec.decode_event(silence.check()[0].value).event_id)
        clock.now = T0 + 60
    assert events[0] == events[1]


def test_revoked_partitions_take_their_cameras_along() -> None:
    clock = Clock()
    silence = CameraSilence(30.0, clock)
    hear(silence, status("gate", cameras_pb2.CAMERA_STATE_ONLINE, T0, partition=1))
    hear(silence, status("dock", cameras_pb2.CAMERA_STATE_ONLINE, T0, partition=2))
    silence.revoked([(CAMERA_STATUS, 1)])
    clock.now = T0 + 31
    assert [o.key for o in silence.check()] == ["dock"]  # the new owner watches "gate"


def test_the_cameras_followed_are_bounded() -> None:
    clock = Clock()
    silence = CameraSilence(30.0, clock, max_cameras=3)
    for n in range(10):
        hear(silence, status(f"cam-{n}", cameras_pb2.CAMERA_STATE_ONLINE, T0))
    assert silence.watched() == 3
