"""A camera's partition moves between tracking replicas mid-clip: the new owner resumes the
camera's tracks from the state topic, with the same ids, instead of inventing new ones."""

from __future__ import annotations

import threading
import time

import pytest

from vigie_core.types import Box, Detection, FrameDetections, FrameRef
from vigie_runtime import codec
from vigie_runtime.admin import LagProbe
from vigie_runtime.bus import Output
from vigie_runtime.health import Health
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import DETECTIONS, TRACKS
from vigie_tracking.service import TrackingService
from vigie_tracking.settings import TrackingSettings

pytestmark = pytest.mark.integration

CAMERA = "platform-2"
FPS = 10.0


def walking_person(i: int, start: float) -> FrameDetections:
    x = 0.1 + 0.004 * i
    box = Box(x, 0.3, x + 0.08, 0.7)
    frame = FrameRef(CAMERA, i, start + i / FPS, 768, 432)
    return FrameDetections(frame, (Detection(box, "person", 0.9),), "test")


class Replica:
    def __init__(self, bootstrap: str) -> None:
        kafka = KafkaSettings(
            bootstrap_servers=bootstrap,
            session_timeout_ms=2000,
            heartbeat_interval_ms=500,
            single_record_batches=True,
        )
        self.service = TrackingService(TrackingSettings(kafka=kafka), KafkaBus(kafka), Health())
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.service.run, args=(self.stop,))
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def publish(bus: KafkaBus, frames: list[FrameDetections]) -> None:
    publisher = bus.publisher("test")
    for frame in frames:
        value = codec.encode(codec.detections_to_proto(frame))
        publisher.publish(Output(DETECTIONS, CAMERA, value))
    publisher.flush(10)


def wait_until_consumed(bootstrap: str, timeout_s: float = 60) -> None:
    probe = LagProbe(bootstrap)
    deadline = time.monotonic() + timeout_s
    try:
        while probe.lag("vigie-tracking", [DETECTIONS]) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert probe.lag("vigie-tracking", [DETECTIONS]) == 0
    finally:
        probe.close()


def wait_for_frame(bus: KafkaBus, sequence: int, timeout_s: float = 60) -> None:
    """Until the tracks of frame ``sequence`` are out (lag alone reads 0 mid-rebalance)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(
            codec.decode_tracks(m.value).frame.sequence == sequence for m in bus.read_all(TRACKS)
        ):
            return
        time.sleep(0.3)
    raise AssertionError(f"the tracks of frame {sequence} never came out")


def test_moving_a_camera_between_replicas_keeps_its_track_ids(bootstrap: str) -> None:
    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap, single_record_batches=True))
    start = time.time()
    frames = [walking_person(i, start) for i in range(120)]

    first = Replica(bootstrap)
    second: Replica | None = None
    try:
        publish(bus, frames[:60])
        wait_until_consumed(bootstrap)
        second = Replica(bootstrap)  # joins the group: partitions are shared out again
        time.sleep(3)
        first.close()  # leaves: every partition, the camera's included, goes to the second
        publish(bus, frames[60:])
        wait_for_frame(bus, 119)
        wait_until_consumed(bootstrap)
        # The second replica took over (once the group settles: a revoke drops its cameras
        # until the assignment that follows reads them back).
        deadline = time.monotonic() + 30
        while CAMERA not in second.service.handler.trackers and time.monotonic() < deadline:
            time.sleep(0.2)
        assert CAMERA in second.service.handler.trackers
    finally:
        if second is not None:
            second.close()
        if first.thread.is_alive():
            first.close()

    tracks = [codec.decode_tracks(m.value) for m in bus.read_all(TRACKS)]
    by_frame = {t.frame.sequence: t for t in tracks}
    assert set(by_frame) >= set(range(2, 120)), "every frame after confirmation was tracked"
    ids = {track.track_id for t in tracks for track in t.tracks}
    assert len(ids) == 1, f"one person, one id across the move; got {sorted(ids)}"
    assert next(iter(ids)).startswith(f"{CAMERA}/")
