"""Tracking settings: every tracker parameter is a setting, and the core checks how they relate."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from pydantic import ValidationError

from vigie_core.tracking import TrackerParams
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.yamlconf import ConfigError
from vigie_tracking.service import TrackingService
from vigie_tracking.settings import TrackerSettings, TrackingSettings


def test_every_tracker_parameter_is_a_setting() -> None:
    # A parameter missing here could never be set, and would silently keep its default.
    assert set(TrackerSettings.model_fields) == {f.name for f in fields(TrackerParams)}


def test_the_defaults_are_the_core_defaults() -> None:
    # One source of truth: `make eval-mot` measures TrackerParams(), the service must run it.
    assert TrackerSettings().params() == TrackerParams()


def test_settings_become_the_core_parameters() -> None:
    params = TrackerSettings(speed_window_s=1.0, min_hits=2).params()
    assert (params.speed_window_s, params.min_hits) == (1.0, 2)


def test_a_zero_speed_window_is_refused() -> None:
    with pytest.raises(ValidationError, match="speed_window_s"):
        TrackerSettings(speed_window_s=0)


def test_the_scene_file_is_optional_and_read_by_the_service(tmp_path: Path) -> None:
    assert TrackingSettings().scenes is None
    scenes = tmp_path / "scenes.yaml"
    scenes.write_text(
        "cameras:\n  gate:\n    zones:\n      - {name: door, polygon: [[0, 0], [1, 0], [1, 1]]}\n",
        encoding="utf-8",
    )
    service = TrackingService(TrackingSettings(scenes=scenes), InMemoryBus(), Health())
    assert service.handler.scenes["gate"].zones[0].name == "door"


def test_a_bad_scene_file_stops_the_service_naming_the_line(tmp_path: Path) -> None:
    scenes = tmp_path / "scenes.yaml"
    scenes.write_text("cameras:\n  gate:\n    zonez: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{scenes}:3: cameras\.gate\.zonez"):
        TrackingService(TrackingSettings(scenes=scenes), InMemoryBus(), Health())
