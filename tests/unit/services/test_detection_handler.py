"""Detection handler: frames in, detections out, with the model and the image decoder faked."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vigie.v1 import frames_pb2
from vigie_core.types import Box, Detection, FrameRef
from vigie_detection.handler import DetectionHandler
from vigie_runtime import codec
from vigie_runtime.bus import Message
from vigie_runtime.codec import DecodeError
from vigie_runtime.topics import DETECTIONS, FRAMES

CAMERA = "cam-door"
CAPTURED_AT = 1_700_000_000.123456
JPEG = b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9"

DETECTIONS_FOUND = (
    Detection(Box(0.125, 0.25, 0.375, 0.875), "person", 0.875),
    Detection(Box(0.5, 0.5, 0.75, 0.625), "car", 0.5),
)


class FakeDetector:
    """Returns the same detections for every image and records what it was given."""

    name = "fake-yolo-1"

    def __init__(self, detections: tuple[Detection, ...] = DETECTIONS_FOUND) -> None:
        self.detections = detections
        self.images: list[np.ndarray] = []

    def detect(self, image_bgr: np.ndarray) -> tuple[Detection, ...]:
        self.images.append(image_bgr)
        return self.detections


class FakeDecoder:
    """Stands in for JPEG decoding: a black image of a fixed size, or a refusal."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[bytes] = []

    def __call__(self, data: bytes) -> np.ndarray:
        self.calls.append(data)
        if self.fail:
            raise ValueError("could not decode the JPEG payload")
        return np.zeros((48, 64, 3), dtype=np.uint8)


def make_frame(
    camera: str = CAMERA,
    sequence: int = 42,
    captured_at: float | None = CAPTURED_AT,
    width: int = 640,
    height: int = 480,
    jpeg: bytes = JPEG,
) -> frames_pb2.Frame:
    frame = frames_pb2.Frame(
        camera_id=camera, sequence=sequence, width=width, height=height, jpeg=jpeg
    )
    if captured_at is not None:
        frame.captured_at.CopyFrom(codec.time_to_proto(captured_at))
    return frame


def message_of(value: bytes, key: str | None = CAMERA, offset: int = 0) -> Message:
    return Message(FRAMES, 0, offset, key.encode() if key is not None else None, value)


def frame_message(frame: frames_pb2.Frame) -> Message:
    return message_of(codec.encode(frame), key=frame.camera_id or None)


@pytest.fixture
def detector() -> FakeDetector:
    return FakeDetector()


@pytest.fixture
def decoder() -> FakeDecoder:
    return FakeDecoder()


@pytest.fixture
def handler(detector: FakeDetector, decoder: FakeDecoder) -> DetectionHandler:
    return DetectionHandler(detector, decoder)


def run(handler: DetectionHandler, message: Message):  # type: ignore[no-untyped-def]
    return list(handler.handle(handler.decode(message), message))


# -- a valid frame --------------------------------------------------------------------------------


def test_valid_frame_gives_one_detections_output_keyed_by_camera(
    handler: DetectionHandler, detector: FakeDetector, decoder: FakeDecoder
) -> None:
    outputs = run(handler, frame_message(make_frame()))

    assert len(outputs) == 1
    (output,) = outputs
    assert output.topic == DETECTIONS
    assert output.key == CAMERA
    # The JPEG went to the decoder and the decoded image to the model, once each.
    assert decoder.calls == [JPEG]
    assert len(detector.images) == 1
    assert detector.images[0].shape == (48, 64, 3)


def test_detections_carry_the_frame_ref_and_model_name(handler: DetectionHandler) -> None:
    (output,) = run(handler, frame_message(make_frame(sequence=7, width=1280, height=720)))

    decoded = codec.decode_detections(output.value)
    assert decoded.frame == FrameRef(
        camera_id=CAMERA, sequence=7, captured_at=CAPTURED_AT, width=1280, height=720
    )
    assert decoded.model == "fake-yolo-1"
    # Boxes and confidences chosen to be exact in float32, so they compare equal after the wire.
    assert decoded.detections == DETECTIONS_FOUND


def test_frame_with_nothing_detected_still_gives_an_output(decoder: FakeDecoder) -> None:
    handler = DetectionHandler(FakeDetector(detections=()), decoder)

    (output,) = run(handler, frame_message(make_frame(sequence=3)))

    decoded = codec.decode_detections(output.value)
    assert decoded.detections == ()
    assert decoded.frame.sequence == 3
    assert decoded.frame.captured_at == CAPTURED_AT


def test_a_frame_keyed_by_another_camera_is_refused(handler: DetectionHandler) -> None:
    message = message_of(codec.encode(make_frame(camera="cam-yard")), key="something-else")

    with pytest.raises(DecodeError, match=r"^message key 'something-else' differs from camera_id"):
        handler.decode(message)


def test_a_frame_without_a_key_is_refused(handler: DetectionHandler) -> None:
    message = message_of(codec.encode(make_frame(camera="cam-yard")), key=None)

    with pytest.raises(DecodeError, match=r"^message has no key, camera_id is 'cam-yard'$"):
        handler.decode(message)


def test_decode_returns_the_validated_frame(handler: DetectionHandler) -> None:
    frame = make_frame()
    decoded = handler.decode(frame_message(frame))
    assert decoded == frame


# -- malformed frames are refused by decode (the stage dead-letters them) -------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"\xff\xff\xff\xff garbage", id="garbage-bytes"),
        pytest.param(codec.encode(make_frame(camera="")), id="missing-camera-id"),
        pytest.param(codec.encode(make_frame(jpeg=b"")), id="empty-jpeg"),
        pytest.param(codec.encode(make_frame(captured_at=None)), id="missing-captured-at"),
        pytest.param(codec.encode(make_frame(width=0)), id="zero-width"),
        pytest.param(codec.encode(make_frame(height=0)), id="zero-height"),
    ],
)
def test_malformed_frame_raises_from_decode(
    handler: DetectionHandler, detector: FakeDetector, decoder: FakeDecoder, value: bytes
) -> None:
    with pytest.raises(codec.DecodeError) as excinfo:
        handler.decode(message_of(value))

    assert excinfo.value.reason  # the reason written to the dead-letter headers
    assert decoder.calls == []
    assert detector.images == []


def test_decode_error_is_a_value_error(handler: DetectionHandler) -> None:
    # The stage logs ValueErrors as bad input (warning) rather than as its own fault.
    with pytest.raises(ValueError, match="missing jpeg"):
        handler.decode(message_of(codec.encode(make_frame(jpeg=b""))))


# -- an image that cannot be decoded --------------------------------------------------------------


def test_undecodable_image_raises_value_error_from_handle(detector: FakeDetector) -> None:
    handler = DetectionHandler(detector, FakeDecoder(fail=True))
    message = frame_message(make_frame())
    frame = handler.decode(message)  # the frame itself is well formed

    with pytest.raises(ValueError, match="could not decode"):
        handler.handle(frame, message)

    assert detector.images == []  # the model never saw anything


def test_colours_are_read_after_the_class_filter_from_the_decoded_image(
    detector: FakeDetector, decoder: FakeDecoder
) -> None:
    given: list[tuple[np.ndarray, tuple[Detection, ...]]] = []

    def cars_only(camera: str, found: tuple[Detection, ...]) -> tuple[Detection, ...]:
        return tuple(d for d in found if d.class_name == "car")

    def annotate(image: np.ndarray, found: tuple[Detection, ...]) -> tuple[Detection, ...]:
        given.append((image, found))
        return tuple(replace(d, colour="blue") for d in found)

    handler = DetectionHandler(detector, decoder, cars_only, annotate)
    (output,) = run(handler, frame_message(make_frame()))

    ((image, found),) = given
    assert image is detector.images[0]  # the frame's own pixels, decoded once
    assert [d.class_name for d in found] == ["car"]
    (car,) = codec.decode_detections(output.value).detections
    assert (car.class_name, car.colour) == ("car", "blue")
