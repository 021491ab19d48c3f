"""The frames stage of analytics: which analysers run, on which frames, and what is refused."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from vigie.v1 import frames_pb2
from vigie_analytics.pixels.base import CameraImage
from vigie_analytics.pixels.handler import PixelHandler, PixelPolicy
from vigie_core.scene import SceneSpec
from vigie_core.types import Event, EventKind
from vigie_runtime import codec
from vigie_runtime.bus import Message
from vigie_runtime.freshness import FreshnessSettings
from vigie_runtime.images import InvalidImage
from vigie_runtime.topics import EVENTS, FRAMES

NOW = 1_700_000_000.0


class Recorder:
    """A stand-in analyser: remembers what it saw and raises one event per frame."""

    def __init__(self, camera: str, scene: SceneSpec | None) -> None:
        self.camera, self.scene, self.seen = camera, scene, []

    def analyse(self, image: CameraImage) -> Sequence[Event]:
        self.seen.append((image.frame.sequence, image.image_bgr.shape))
        return [Event(f"e{image.frame.sequence}", EventKind.FIRE, image.frame, "", "", details={})]


def jpeg(width: int = 64, height: int = 48) -> bytes:
    return cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))[1].tobytes()


def frame(seq: int, camera: str = "cam-1", age_s: float = 0.0, replay: bool = False) -> Message:
    msg = frames_pb2.Frame(
        camera_id=camera, sequence=seq, width=64, height=48, jpeg=jpeg(), replay=replay
    )
    msg.captured_at.CopyFrom(codec.time_to_proto(NOW - age_s + seq * 0.1))
    return Message(FRAMES, 0, seq, camera.encode(), codec.encode(msg))


def make_handler(scenes: dict[str, SceneSpec] | None = None) -> tuple[PixelHandler, dict]:
    built: dict[tuple[str, str], Recorder] = {}

    def factory(name: str):  # type: ignore[no-untyped-def]
        def build(camera: str, scene: SceneSpec | None) -> Recorder:
            built[(name, camera)] = Recorder(camera, scene)
            return built[(name, camera)]

        return build

    policies = [
        PixelPolicy("fire", frozenset({"cam-1", "cam-2"}), factory("fire")),
        PixelPolicy("emotion", frozenset({"cam-2"}), factory("emotion")),
    ]
    handler = PixelHandler(
        policies, (scenes or {}).get, FreshnessSettings(max_age_s=2.0), clock=lambda: NOW + 1
    )
    return handler, built


def handle(handler: PixelHandler, message: Message) -> list[Event]:
    outputs = handler.handle(handler.decode(message), message)
    assert all(o.topic == EVENTS for o in outputs)
    return [codec.decode_event(o.value) for o in outputs]


def test_only_the_analysers_a_camera_enables_run_on_its_frames() -> None:
    handler, built = make_handler()
    assert handler.cameras == {"cam-1", "cam-2"}
    assert [e.event_id for e in handle(handler, frame(1, "cam-1"))] == ["e1"]
    assert len(handle(handler, frame(1, "cam-2"))) == 2
    assert handle(handler, frame(1, "cam-3")) == []
    assert sorted(built) == [("emotion", "cam-2"), ("fire", "cam-1"), ("fire", "cam-2")]
    assert built[("fire", "cam-1")].seen == [(1, (48, 64, 3))]


def test_each_analyser_is_built_once_per_camera_with_its_scene() -> None:
    scene = SceneSpec("cam-1")
    handler, built = make_handler({"cam-1": scene})
    handle(handler, frame(1))
    handle(handler, frame(2))
    assert built[("fire", "cam-1")].scene is scene
    assert [s for s, _ in built[("fire", "cam-1")].seen] == [1, 2]


def test_live_frames_past_the_freshness_limit_are_skipped_but_replays_never() -> None:
    handler, built = make_handler()
    assert handle(handler, frame(1, age_s=10)) == []
    assert len(handle(handler, frame(2, age_s=10, replay=True))) == 1
    assert [s for s, _ in built[("fire", "cam-1")].seen] == [2]


def test_a_frame_older_than_the_last_one_of_its_camera_is_dropped() -> None:
    handler, built = make_handler()
    handle(handler, frame(5))
    assert handle(handler, frame(4)) == []  # redelivered after a newer one
    assert [s for s, _ in built[("fire", "cam-1")].seen] == [5]


def test_an_undecodable_image_is_refused_for_the_dead_letter_topic() -> None:
    handler, _ = make_handler()
    message = frame(1)
    decoded = handler.decode(message)
    decoded.jpeg = b"not a jpeg at all"
    with pytest.raises(InvalidImage):
        handler.handle(decoded, message)
