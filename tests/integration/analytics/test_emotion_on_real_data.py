"""Aggregate emotion with the real offline models on real footage."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from tests.conftest import shared_data
from vigie_analytics.pixels.base import CameraImage
from vigie_analytics.pixels.emotion import EmotionSettings, emotion_analyser_factory
from vigie_core.emotion import EMOTIONS
from vigie_core.types import Event, EventKind, FrameRef

T0 = 1_700_000_000.0


def summaries(path: Path, window_s: float) -> list[Event]:
    settings = EmotionSettings(enabled_cameras=["cam"], window_s=window_s, min_faces=5)
    analyser = emotion_analyser_factory(settings)("cam", None)
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    events, k, last = [], 0, None
    while True:
        ok, image = capture.read()
        if not ok:
            break
        last = image
        ref = FrameRef("cam", k, T0 + k / fps, image.shape[1], image.shape[0])
        events.extend(analyser.analyse(CameraImage(ref, image)))
        k += 1
    # One more frame after the clip closes its last window.
    assert last is not None
    closing = FrameRef("cam", k, T0 + 3600, last.shape[1], last.shape[0])
    events.extend(analyser.analyse(CameraImage(closing, last)))
    return events


def test_two_faces_in_view_give_an_aggregate_without_any_per_person_data() -> None:
    # Two people face the camera for 56 frames (12.5 fps), tilting their heads; neither smiles.
    path = shared_data("intel-sample-videos/head-pose-face-detection-female-and-male.gif")
    events = summaries(path, window_s=2.0)
    assert len(events) >= 2
    faces = sum(int(e.details["faces"]) for e in events)
    assert 80 <= faces <= 112  # two faces on most of the 56 frames
    for event in events:
        assert event.kind is EventKind.EMOTION_SUMMARY
        assert event.track_ids == () and event.zone == ""
        assert set(event.details) == {"faces", "min_faces", "window_start", "window_s", *EMOTIONS}
        assert sum(float(event.details[e]) for e in EMOTIONS) == pytest.approx(1.0, abs=0.01)
        assert float(event.details["happy"]) < 0.3  # nobody smiles in this clip


def test_a_clip_without_faces_gives_no_figure() -> None:
    # A car park filmed from above: no face anywhere (a Haar cascade found 14 in the asphalt).
    assert summaries(shared_data("intel-sample-videos/car-detection.mp4"), window_s=5.0) == []
