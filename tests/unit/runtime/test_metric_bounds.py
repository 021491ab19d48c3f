"""Per-camera metrics stay bounded under a flood of camera ids: idle cameras leave the
frame-rate window, and label values beyond the cap are folded into one."""

from __future__ import annotations

import itertools
import logging

import pytest
from prometheus_client import REGISTRY

from vigie_runtime import metrics

_n = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_n)}"


def sample(name: str, stage: str, camera: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"stage": stage, "camera": camera})


def test_idle_cameras_leave_the_window_and_read_zero() -> None:
    stage = unique("fr-idle")
    rate = metrics.FrameRate(stage, window_s=10.0, idle_s=60.0)
    for i in range(21):
        rate.tick("gone", now=i / 2)
        rate.tick("live", now=i / 2)
    assert sample("vigie_camera_fps", stage, "gone") == pytest.approx(2.0)
    for t in range(11, 80):
        rate.tick("live", now=float(t))
    assert rate.cameras() == ["live"]
    assert sample("vigie_camera_fps", stage, "gone") == 0.0  # stopped, and says so
    rate.sweep(now=200.0)
    assert rate.cameras() == []
    assert sample("vigie_camera_fps", stage, "live") == 0.0


def test_a_flood_of_camera_ids_keeps_the_window_bounded() -> None:
    stage = unique("fr-flood")
    labels = metrics.CameraLabels(limit=10_000)
    rate = metrics.FrameRate(stage, max_cameras=20, labels=labels)
    for c in range(2_000):
        rate.tick(f"cam-{c}", now=c / 1000)
    assert rate.cameras() == [f"cam-{c}" for c in range(1_980, 2_000)]


def test_camera_labels_beyond_the_cap_are_folded_into_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stage = unique("fr-labels")
    labels = metrics.CameraLabels(limit=5)
    rate = metrics.FrameRate(stage, labels=labels)
    with caplog.at_level(logging.WARNING):
        for c in range(100):
            rate.tick(f"cam-{c}", now=float(c))
            rate.tick(f"cam-{c}", now=c + 0.5)
    assert sample("vigie_camera_frames_total", stage, "cam-4") == 2
    assert sample("vigie_camera_frames_total", stage, "cam-5") is None  # no series of its own
    assert sample("vigie_camera_frames_total", stage, metrics.OTHER_CAMERA) == 190
    assert sample("vigie_camera_fps", stage, metrics.OTHER_CAMERA) is None  # no mixed rate
    overflow = REGISTRY.get_sample_value("vigie_camera_labels_overflow_total", {"stage": stage})
    assert overflow == 190
    series = [
        s
        for m in REGISTRY.collect()
        if m.name == "vigie_camera_frames"
        for s in m.samples
        if s.labels.get("stage") == stage and s.name.endswith("_total")
    ]
    assert len(series) == 6  # five cameras and "other"
    assert len([r for r in caplog.records if "too many cameras" in r.getMessage()]) == 1
    assert labels(stage, "cam-0") == "cam-0"  # a labelled camera keeps its label for good
