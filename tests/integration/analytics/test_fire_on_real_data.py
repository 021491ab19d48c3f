"""The fire analyser on real footage, decoded by OpenCV: flames are signalled within the
persistence time; street photos and the sample clips, full of flame-coloured pixels (brick, wood,
a red car, skin), never are, because nothing there flickers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import SHARED_DATA, shared_data
from vigie_analytics.pixels.base import CameraImage
from vigie_analytics.pixels.fire import FireSettings, fire_analyser_factory
from vigie_core.types import Event, EventKind, FrameRef

T0 = 1_700_000_000.0


def clip_frames(path: Path, seconds: float | None = None) -> Iterator[tuple[float, np.ndarray]]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    k = 0
    while seconds is None or k < seconds * fps:
        ok, frame = capture.read()
        if not ok:
            break
        yield k / fps, frame
        k += 1
    capture.release()


def analyse(frames: Iterator[tuple[float, np.ndarray]]) -> list[Event]:
    analyser = fire_analyser_factory(FireSettings(enabled_cameras=["cam"]))("cam", None)
    events = []
    for k, (t, image) in enumerate(frames):
        ref = FrameRef("cam", k, T0 + t, image.shape[1], image.shape[0])
        events.extend(analyser.analyse(CameraImage(ref, image)))
    return events


def test_flames_are_signalled_once_within_the_persistence_time() -> None:
    # Every frame of this clip shows flames (640x360, 25 fps, 10 s).
    events = analyse(clip_frames(shared_data("fire-flames/fire.mp4")))
    (event,) = events
    assert event.kind is EventKind.FIRE
    # 0.5 s to measure flicker, then 80% of the frames of (nearly) 3 s: between 2.8 s and 4 s.
    assert 2.8 <= event.frame.captured_at - T0 <= 4.0
    assert float(event.details["fraction"]) > 0.2  # the lower half of the frame is flames
    assert float(event.details["flicker"]) >= 5.0
    assert event.details["source"] == "colour" and event.zone == ""


@pytest.mark.parametrize(
    "photo", sorted(p.name for p in (SHARED_DATA / "coco-street").glob("*.jpg")) or ["absent"]
)
def test_no_fire_on_a_street_photo_held_for_five_seconds(photo: str) -> None:
    image = cv2.imread(str(shared_data(f"coco-street/{photo}")))
    assert analyse((k / 10, image) for k in range(50)) == []


@pytest.mark.parametrize(
    "clip", ["one-by-one-person-detection.mp4", "car-detection.mp4", "bottle-detection.mp4"]
)
def test_no_fire_on_the_sample_clips(clip: str) -> None:
    # A wooden wall and people walking past it, a red car driving, bottles moved by a hand.
    path = shared_data(f"intel-sample-videos/{clip}")
    assert analyse(clip_frames(path, seconds=40)) == []


def test_no_fire_from_traffic_through_a_junction() -> None:
    # Red and orange cars drive through (960x540, 25 fps, 10 s): each pixel they cross is
    # flame-coloured for a moment and changes brightness as they pass, which the flicker of all
    # flame-coloured pixels took for fire at 6.2 s; a flame stays where it burns.
    path = shared_data("events/stopped-vehicle/stopped-vehicle-1.mp4")
    assert analyse(clip_frames(path)) == []
