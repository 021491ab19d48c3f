"""Emotion analysis is off unless a camera's policy enables it, and runs only verified models."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie_analytics.pixels.emotion import EmotionSettings, emotion_analyser_factory
from vigie_analytics.pixels.policies import pixel_policies
from vigie_analytics.settings import AnalyticsSettings
from vigie_runtime.faces import ModelFileError, verified


def test_no_camera_has_emotion_analysis_by_default() -> None:
    assert EmotionSettings().enabled_cameras == []
    assert pixel_policies(AnalyticsSettings()) == []


def test_only_listed_cameras_get_an_analyser() -> None:
    settings = AnalyticsSettings(emotion={"enabled_cameras": ["hall"]})
    (policy,) = pixel_policies(settings)
    assert (policy.name, policy.cameras) == ("emotion", frozenset({"hall"}))
    with pytest.raises(ValueError, match="not enabled for camera 'street'"):
        emotion_analyser_factory(settings.emotion)("street", None)


def test_a_model_file_that_is_missing_or_altered_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="face detector not found"):
        verified(tmp_path / "absent.caffemodel", "0" * 64, "face detector")
    altered = tmp_path / "model.tflite"
    altered.write_bytes(b"not the model")
    with pytest.raises(ModelFileError, match=r"expression model at .* has sha256"):
        verified(altered, "0" * 64, "expression model")


def test_the_faces_floor_cannot_be_one() -> None:
    with pytest.raises(ValueError, match="min_faces"):
        EmotionSettings(min_faces=1)
