"""The fire analyser's seams: a plugged-in model, the policy, the zone of an event, settings."""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence

import numpy as np
import pytest
from pydantic import ValidationError

from vigie_analytics.pixels.base import CameraImage
from vigie_analytics.pixels.fire import (
    FireAnalyser,
    FireBox,
    FireSettings,
    fire_analyser_factory,
    load_model,
)
from vigie_core.geometry import Polygon
from vigie_core.scene import SceneSpec, ZoneSpec
from vigie_core.types import EventKind, FrameRef

BLACK = np.zeros((90, 160, 3), np.uint8)


class ScriptedModel:
    """Reports fire in the lower right quarter on the frames listed, nothing otherwise."""

    def __init__(self, fire_on: set[int]) -> None:
        self.fire_on, self.calls = fire_on, 0

    def find(self, image_bgr: np.ndarray) -> Sequence[FireBox]:
        self.calls += 1
        if self.calls - 1 in self.fire_on:
            return [
                FireBox((0.6, 0.6, 0.9, 0.9), 0.92, "fire"),
                FireBox((0, 0, 1, 1), 0.2, "smoke"),
            ]
        return []


def frames(n: int, fps: float = 10.0) -> list[CameraImage]:
    return [
        CameraImage(FrameRef("cam-1", k, 1_700_000_000 + k / fps, 160, 90), BLACK) for k in range(n)
    ]


def test_a_plugged_in_model_decides_and_the_event_explains_its_score() -> None:
    scene = SceneSpec(
        "cam-1", zones=(ZoneSpec("kitchen", Polygon.of([(0.5, 0.5), (1, 0.5), (1, 1)])),)
    )
    analyser = FireAnalyser(
        "cam-1", scene, FireSettings(enabled_cameras=["cam-1"]), ScriptedModel(set(range(5, 100)))
    )
    events = [e for image in frames(60) for e in analyser.analyse(image)]
    (event,) = events  # smoke at 0.2 is below model_min_score 0.5
    assert event.kind is EventKind.FIRE
    assert event.zone == "kitchen"  # the box centre (0.75, 0.75) lies in it
    # Fire from frame 5: at frame 29 the last 3 s hold 5 frames without and 25 with (83%).
    assert event.frame.sequence == 29
    assert event.details["source"] == "model"
    assert event.details["score"] == "0.920"
    assert event.details["box"] == "0.600,0.600,0.900,0.900"
    assert event.track_ids == ()  # never about a person


def test_black_frames_raise_nothing_by_colour() -> None:
    analyser = FireAnalyser(
        "cam-1", None, FireSettings(enabled_cameras=["cam-1"], smoke=True), None
    )
    assert [e for image in frames(80) for e in analyser.analyse(image)] == []


def test_the_factory_refuses_a_camera_whose_policy_does_not_enable_it() -> None:
    build = fire_analyser_factory(FireSettings(enabled_cameras=["cam-1"]))
    build("cam-1", None)
    with pytest.raises(ValueError, match="not enabled for camera 'cam-2'"):
        build("cam-2", None)


def test_a_model_is_loaded_from_its_reference() -> None:
    module = types.ModuleType("fire_plugin_for_test")
    module.build = lambda: ScriptedModel(set())  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        assert isinstance(load_model("fire_plugin_for_test:build"), ScriptedModel)
    finally:
        del sys.modules[module.__name__]
    with pytest.raises(ValueError, match=r"package\.module:factory"):
        load_model("no_colon_here")


def test_settings_are_off_by_default_and_checked() -> None:
    settings = FireSettings()
    assert settings.enabled_cameras == [] and settings.smoke is False
    with pytest.raises(ValidationError, match="min_flicker"):
        FireSettings(min_flicker=0)
    with pytest.raises(ValidationError, match="extra"):
        FireSettings(flicker=3)  # type: ignore[call-arg]


ORANGE = (0, 140, 255)  # BGR: a flame colour


def colour_frames(draw: list[np.ndarray], fps: float = 10.0) -> list[CameraImage]:
    return [
        CameraImage(FrameRef("cam-1", k, 1_700_000_000 + k / fps, 160, 90), image)
        for k, image in enumerate(draw)
    ]


def flickering_patch(n: int) -> list[np.ndarray]:
    """An orange patch that stays in place, its brightness fluttering frame to frame."""
    images = []
    for k in range(n):
        image = BLACK.copy()
        scale = 1.0 if k % 2 else 0.8
        image[50:80, 60:100] = tuple(int(c * scale) for c in ORANGE)
        images.append(image)
    return images


def passing_block(n: int, step_px: int = 4) -> list[np.ndarray]:
    """An orange block of steady colour driving across the frame, as a red car does."""
    images = []
    for k in range(n):
        image = BLACK.copy()
        x = (k * step_px) % 140
        image[50:80, x : x + 20] = ORANGE
        images.append(image)
    return images


def fire_events(settings: FireSettings, images: list[np.ndarray]) -> list[str]:
    analyser = FireAnalyser("cam-1", None, settings, None)
    return [e.kind.value for image in colour_frames(images) for e in analyser.analyse(image)]


def test_a_flame_flickers_in_place_and_a_flame_coloured_thing_passing_by_does_not() -> None:
    settings = FireSettings(enabled_cameras=["cam-1"])
    assert fire_events(settings, flickering_patch(60)) == ["fire"]
    assert fire_events(settings, passing_block(120)) == []
    # What the steadiness rule removes: without it, the passing block's pixels go from black
    # to orange and back, which reads as flicker, and it was taken for fire.
    anywhere = settings.model_copy(update={"min_steadiness": 0.01})
    assert fire_events(anywhere, passing_block(120)) == ["fire"]
