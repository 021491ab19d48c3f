"""Tracking settings: every tracker parameter is a setting, and the core checks how they relate."""

from __future__ import annotations

from dataclasses import fields

import pytest
from pydantic import ValidationError

from vigie_core.tracking import TrackerParams
from vigie_tracking.settings import TrackerSettings


def test_every_tracker_parameter_is_a_setting() -> None:
    # A parameter missing here could never be set, and would silently keep its default.
    assert set(TrackerSettings.model_fields) == {f.name for f in fields(TrackerParams)}


def test_settings_become_the_core_parameters() -> None:
    params = TrackerSettings(speed_window_s=1.0, min_hits=2).params()
    assert (params.speed_window_s, params.min_hits) == (1.0, 2)


def test_a_zero_speed_window_is_refused() -> None:
    with pytest.raises(ValidationError, match="speed_window_s"):
        TrackerSettings(speed_window_s=0)
