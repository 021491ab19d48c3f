"""Dynamic batching and freshness in the detection stage, with the model faked."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from vigie.v1 import frames_pb2
from vigie_core.types import Box, Detection
from vigie_detection.batching import BatchingDetection, FillingBus
from vigie_detection.handler import DetectionHandler
from vigie_detection.interval import CameraInterval, IntervalSettings
from vigie_detection.settings import CameraFreshness, DetectionSettings, FreshnessSettings
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.freshness import FRAMES_SKIPPED
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.stage import Stage, StageRunner
from vigie_runtime.topics import DEAD_LETTERS, DETECTIONS, FRAMES

NOW = float(int(time.time()))  # near the wall clock: the runner bounds message times
PERSON = Detection(Box(0.125, 0.25, 0.375, 0.875), "person", 0.875)


class BatchDetector:
    """Records the size of every network call; fails on request."""

    name = "fake"

    def __init__(self, fail_batches: bool = False, bad_shape: tuple[int, ...] | None = None):
        self.calls: list[int] = []
        self.fail_batches = fail_batches
        self.bad_shape = bad_shape

    def detect(self, image: np.ndarray) -> tuple[Detection, ...]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[tuple[Detection, ...]]:
        self.calls.append(len(images))
        if self.fail_batches and len(images) > 1:
            raise RuntimeError("batch failed")
        if any(image.shape == self.bad_shape for image in images):
            raise RuntimeError("model refused this frame")
        return [(PERSON,) for _ in images]


def decode_image(data: bytes) -> np.ndarray:
    if data == b"bad":
        raise ValueError("image does not decode")
    if data == b"odd":
        return np.zeros((7, 7, 3), dtype=np.uint8)
    return np.zeros((48, 64, 3), dtype=np.uint8)


def frame(camera: str, seq: int, age_s: float = 0.0, replay: bool = False, jpeg: bytes = b"j"):
    f = frames_pb2.Frame(
        camera_id=camera, sequence=seq, width=64, height=48, jpeg=jpeg, replay=replay
    )
    f.captured_at.CopyFrom(codec.time_to_proto(NOW - age_s))
    return f


def message(f: frames_pb2.Frame, offset: int = 0) -> Message:
    return Message(FRAMES, 0, offset, f.camera_id.encode(), codec.encode(f))


def batching(
    detector: BatchDetector, max_batch: int = 4, freshness: FreshnessSettings | None = None
) -> BatchingDetection:
    return BatchingDetection(
        DetectionHandler(detector, decode_image),
        max_batch=max_batch,
        freshness=freshness or FreshnessSettings(),
        dead_letter_topic=DEAD_LETTERS,
        clock=lambda: NOW,
    )


def feed(b: BatchingDetection, frames: list[frames_pb2.Frame]) -> list[Output]:
    for i, f in enumerate(frames):
        m = message(f, i)
        assert b.collect(b.decode(m), m) == []
    return b.flush()


def sequences(outputs: list[Output]) -> list[tuple[str, int]]:
    found = [codec.decode_detections(o.value) for o in outputs if o.topic == DETECTIONS]
    return [(d.frame.camera_id, d.frame.sequence) for d in found]


def test_frames_of_several_cameras_go_through_the_model_together_in_order() -> None:
    detector = BatchDetector()
    b = batching(detector, max_batch=4)
    frames = [frame(f"cam-{i % 3}", i) for i in range(10)]
    outputs = feed(b, frames)
    assert detector.calls == [4, 4, 2]
    assert sequences(outputs) == [(f.camera_id, f.sequence) for f in frames]
    assert all(o.key == codec.decode_detections(o.value).frame.camera_id for o in outputs)
    assert b.flush() == []  # nothing left over for the next batch


def test_undecodable_image_fails_its_own_message_only() -> None:
    b = batching(BatchDetector())
    good, bad = message(frame("cam-1", 1), 0), message(frame("cam-1", 2, jpeg=b"bad"), 1)
    b.collect(b.decode(good), good)
    with pytest.raises(ValueError, match="does not decode"):
        b.collect(b.decode(bad), bad)  # the stage dead-letters this message
    assert sequences(b.flush()) == [("cam-1", 1)]


def test_a_failing_batch_is_retried_frame_by_frame_and_only_the_culprit_dead_lettered() -> None:
    detector = BatchDetector(fail_batches=True, bad_shape=(7, 7, 3))
    b = batching(detector)
    outputs = feed(b, [frame("cam-1", 1), frame("cam-2", 2, jpeg=b"odd"), frame("cam-1", 3)])
    assert [o.topic for o in outputs] == [DETECTIONS, DEAD_LETTERS, DETECTIONS]
    letter = outputs[1]
    assert letter.headers["vigie.reason"].startswith("processing: RuntimeError")
    assert letter.value == codec.encode(frame("cam-2", 2, jpeg=b"odd"))  # original bytes


def test_stale_live_frames_are_skipped_and_counted_but_replays_never() -> None:
    freshness = FreshnessSettings(
        max_age_s=2.0, cameras={"cam-slow": CameraFreshness(max_age_s=10)}
    )
    b = batching(BatchDetector(), freshness=freshness)
    before = FRAMES_SKIPPED.labels("detection", "cam-live", "stale")._value.get()
    outputs = feed(
        b,
        [
            frame("cam-live", 1, age_s=0.5),
            frame("cam-live", 2, age_s=3.0),  # stale
            frame("cam-live", 3, age_s=30.0, replay=True),  # recorded media: always detected
            frame("cam-slow", 4, age_s=5.0),  # within its own, longer limit
            frame("cam-slow", 5, age_s=11.0),  # stale even for it
        ],
    )
    assert sequences(outputs) == [("cam-live", 1), ("cam-live", 3), ("cam-slow", 4)]
    after = FRAMES_SKIPPED.labels("detection", "cam-live", "stale")._value.get()
    assert after - before == 1
    assert FRAMES_SKIPPED.labels("detection", "cam-slow", "stale")._value.get() >= 1


def test_freshness_is_judged_when_the_frame_is_about_to_be_detected() -> None:
    now = [NOW]
    b = BatchingDetection(
        DetectionHandler(BatchDetector(), decode_image),
        max_batch=1,
        freshness=FreshnessSettings(max_age_s=2.0),
        dead_letter_topic=DEAD_LETTERS,
        clock=lambda: now[0],
    )
    m = message(frame("cam-1", 1, age_s=1.0))
    b.collect(b.decode(m), m)  # fresh when it arrived
    now[0] += 5.0  # but the model only gets to it five seconds later
    assert b.flush() == []


def test_settings_defaults_and_per_camera_limits() -> None:
    s = DetectionSettings()
    assert (s.batching.max_batch, s.batching.max_wait_ms) == (1, 10.0)
    assert s.model.backend == "onnxruntime"
    assert s.freshness.limit_for("any") == 2.0
    s = DetectionSettings(freshness={"max_age_s": 1.0, "cameras": {"gate": {"max_age_s": 5}}})
    assert (s.freshness.limit_for("gate"), s.freshness.limit_for("other")) == (5.0, 1.0)


def test_stage_with_filling_bus_batches_and_dead_letters_through_the_runner() -> None:
    bus = InMemoryBus()
    detector = BatchDetector()
    b = batching(detector, max_batch=8)
    publisher = bus.publisher("test")
    frames = [frame(f"cam-{i % 2}", i) for i in range(6)]
    for f in frames[:3]:
        publisher.publish(Output(FRAMES, f.camera_id, codec.encode(f)))
    publisher.publish(Output(FRAMES, "cam-0", codec.encode(frame("cam-0", 99, jpeg=b"bad"))))
    for f in frames[3:]:
        publisher.publish(Output(FRAMES, f.camera_id, codec.encode(f)))
    publisher.publish(Output(FRAMES, "cam-1", b"\xff not a frame"))
    publisher.flush(1)
    stage = Stage(
        "detection", [FRAMES], "g", b.decode, b.collect, before_commit=b.flush, counts_frames=True
    )
    runner = StageRunner(stage, FillingBus(bus, 8, 0.05), Health(), DEAD_LETTERS, max_batch=8)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        for _ in range(100):
            if len(bus.messages(DETECTIONS)) >= 6 and len(bus.messages(DEAD_LETTERS)) >= 2:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(10)
    got = sorted(
        (d.frame.camera_id, d.frame.sequence)
        for d in map(lambda m: codec.decode_detections(m.value), bus.messages(DETECTIONS))
    )
    assert got == sorted((f.camera_id, f.sequence) for f in frames)
    reasons = sorted(m.headers["vigie.reason"][:9] for m in bus.messages(DEAD_LETTERS))
    assert reasons == [b"decode: D", b"processin"]
    assert max(detector.calls) > 1  # frames of both cameras shared network calls


def test_each_frame_s_detections_are_annotated_from_that_frame_s_own_pixels() -> None:
    seen: list[tuple[tuple[int, ...], int]] = []

    def annotate(image: np.ndarray, found: tuple[Detection, ...]) -> tuple[Detection, ...]:
        seen.append((image.shape, len(found)))
        return tuple(replace(d, colour=f"{image.shape[0]}px") for d in found)

    b = BatchingDetection(
        DetectionHandler(BatchDetector(), decode_image, annotate=annotate),
        max_batch=4,
        freshness=FreshnessSettings(),
        dead_letter_topic=DEAD_LETTERS,
        clock=lambda: NOW,
    )
    outputs = feed(b, [frame("cam-1", 1), frame("cam-1", 2, jpeg=b"odd")])
    assert seen == [((48, 64, 3), 1), ((7, 7, 3), 1)]
    colours = [codec.decode_detections(o.value).detections[0].colour for o in outputs]
    assert colours == ["48px", "7px"]


def test_frames_the_interval_skips_are_carried_in_their_place_undecoded() -> None:
    detector = BatchDetector()
    b = BatchingDetection(
        DetectionHandler(detector, decode_image),
        max_batch=2,
        freshness=FreshnessSettings(),
        dead_letter_topic=DEAD_LETTERS,
        interval=IntervalSettings(frames=2, cameras={"cam-b": CameraInterval(frames=3)}),
        clock=lambda: NOW,
    )
    # A carried frame is never decoded: this one's image would not decode.
    frames = [frame("cam-a", 0), frame("cam-b", 0), frame("cam-a", 1, jpeg=b"bad")]
    frames += [frame("cam-b", s) for s in (1, 2, 3)] + [frame("cam-a", 2)]
    outputs = feed(b, frames)
    found = [codec.decode_detections(o.value) for o in outputs]
    assert [(d.frame.camera_id, d.frame.sequence) for d in found] == [
        (f.camera_id, f.sequence) for f in frames
    ]
    assert [d.carried for d in found] == [False, False, True, True, True, False, False]
    assert all(d.detections == () for d in found if d.carried)
    assert all(d.detections for d in found if not d.carried)
    assert detector.calls == [2, 2]  # only the frames looked at went through the model
