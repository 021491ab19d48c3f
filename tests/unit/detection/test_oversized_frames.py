"""Frames too big to decode, or keyed by another camera, are dead-lettered with their reason.

The stage is wired as the detection service wires it (batching, ``decode_jpeg`` with the
settings' limits) and driven by the message contract every stage runner uses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

import cv2
import numpy as np
import pytest

from tests.oversized import black_png, jpeg_declaring
from vigie.v1 import frames_pb2
from vigie_core.types import Box, Detection
from vigie_detection.batching import BatchingDetection
from vigie_detection.handler import DetectionHandler
from vigie_detection.settings import DetectionSettings
from vigie_runtime import codec
from vigie_runtime.bus import Message
from vigie_runtime.freshness import FreshnessSettings
from vigie_runtime.images import decode_jpeg
from vigie_runtime.stage import MessageContract, Stage
from vigie_runtime.topics import DEAD_LETTERS, DETECTIONS, FRAMES

NOW = float(int(time.time()))  # near the wall clock: the runner bounds message times


class CountingDetector:
    name = "counting"

    def __init__(self) -> None:
        self.images = 0

    def detect(self, image: np.ndarray) -> tuple[Detection, ...]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[tuple[Detection, ...]]:
        self.images += len(images)
        return [(Detection(Box(0.1, 0.1, 0.2, 0.2), "person", 0.9),) for _ in images]


def small_jpeg() -> bytes:
    ok, data = cv2.imencode(".jpg", np.zeros((48, 64, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def frame_message(payload: bytes, width: int = 64, height: int = 48, key: str = "cam-1") -> Message:
    frame = frames_pb2.Frame(
        camera_id="cam-1", sequence=7, width=width, height=height, jpeg=payload, replay=True
    )
    frame.captured_at.CopyFrom(codec.time_to_proto(NOW))
    return Message(FRAMES, 0, 7, key.encode(), codec.encode(frame))


@pytest.fixture
def stage() -> tuple[MessageContract[frames_pb2.Frame], BatchingDetection, CountingDetector]:
    limits = DetectionSettings().images.limits()
    detector = CountingDetector()
    handler = DetectionHandler(
        detector,  # type: ignore[arg-type]
        partial(decode_jpeg, limits=limits),
        image_limits=limits,
    )
    batching = BatchingDetection(
        handler, max_batch=4, freshness=FreshnessSettings(), dead_letter_topic=DEAD_LETTERS
    )
    contract = MessageContract(
        Stage("detection", [FRAMES], "detection", batching.decode, batching.collect),
        DEAD_LETTERS,
    )
    return contract, batching, detector


def test_a_frame_declaring_too_many_pixels_is_dead_lettered_at_decode(stage) -> None:  # type: ignore[no-untyped-def]
    contract, batching, detector = stage
    message = frame_message(jpeg_declaring(30000, 30000), width=30000, height=30000)
    (letter,) = contract.process(message)
    assert letter.topic == DEAD_LETTERS
    assert letter.value == message.value
    assert letter.headers["vigie.reason"] == (
        "decode: DecodeError: width x height 30000x30000 is above the limit of 16777216 pixels"
    )
    assert batching.flush() == [] and detector.images == 0


def test_a_frame_whose_image_header_is_too_big_is_dead_lettered_before_decoding(stage) -> None:  # type: ignore[no-untyped-def]
    """The frame lies about its size: the image's own header is what counts."""
    contract, batching, detector = stage
    message = frame_message(black_png(30000, 30000))
    (letter,) = contract.process(message)
    assert letter.topic == DEAD_LETTERS
    assert letter.headers["vigie.reason"] == (
        "processing: InvalidImage: PNG image of 30000x30000 pixels is above the limit of "
        "16777216 pixels"
    )
    assert batching.flush() == [] and detector.images == 0


def test_a_frame_keyed_by_another_camera_is_dead_lettered(stage) -> None:  # type: ignore[no-untyped-def]
    contract, _, _ = stage
    (letter,) = contract.process(frame_message(small_jpeg(), key="cam-2"))
    assert letter.headers["vigie.reason"] == (
        "decode: DecodeError: message key 'cam-2' differs from camera_id 'cam-1'"
    )


def test_a_frame_within_the_limits_is_detected(stage) -> None:  # type: ignore[no-untyped-def]
    contract, batching, detector = stage
    assert contract.process(frame_message(small_jpeg())) == []
    (output,) = batching.flush()
    assert output.topic == DETECTIONS and detector.images == 1


def test_the_limits_are_settings() -> None:
    settings = DetectionSettings.model_validate(
        {"images": {"max_pixels": 7680 * 4320, "max_bytes": 4_000_000}}
    )
    limits = settings.images.limits()
    assert (limits.max_pixels, limits.max_bytes) == (7680 * 4320, 4_000_000)
    with pytest.raises(ValueError, match="max_pixels"):
        DetectionSettings.model_validate({"images": {"max_pixels": 0}})
