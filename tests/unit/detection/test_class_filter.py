"""Per-camera class filter."""

from __future__ import annotations

import pytest

from vigie_core.types import Box, Detection
from vigie_detection.models.class_filter import CameraClassFilter

KNOWN = ("person", "car", "motorbike", "dog")
FOUND = (
    Detection(Box(0, 0, 0.1, 0.1), "person", 0.9),
    Detection(Box(0, 0, 0.2, 0.2), "car", 0.8),
    Detection(Box(0, 0, 0.3, 0.3), "dog", 0.7),
)


def test_cameras_without_their_own_list_use_the_default() -> None:
    rule = CameraClassFilter(KNOWN, default={"person", "car"}, per_camera={"park": {"car"}})
    assert [d.class_name for d in rule.apply("street", FOUND)] == ["person", "car"]
    assert [d.class_name for d in rule.apply("park", FOUND)] == ["car"]


def test_no_default_keeps_everything() -> None:
    assert CameraClassFilter(KNOWN).apply("any", FOUND) == FOUND


def test_misspelt_class_names_are_refused_with_the_camera() -> None:
    with pytest.raises(ValueError, match=r"\['motorcycle'\] for camera gate"):
        CameraClassFilter(KNOWN, per_camera={"gate": {"person", "motorcycle"}})
