"""Rows to detections: thresholds, class filter, per-class NMS, normalisation and clipping."""

from __future__ import annotations

import numpy as np
import pytest

from vigie_detection.models.manifest import InputSpec
from vigie_detection.models.postprocess import Thresholds, detections_from_rows
from vigie_detection.models.preprocess import place

NAMES = ("person", "bicycle", "car")
ALL = np.ones(3, dtype=bool)
STRETCH = place(640, 480, InputSpec(size=416, resize="stretch", colour="rgb", scale=1), (416, 416))


def row(cx: float, cy: float, w: float, h: float, scores: tuple[float, ...]) -> list[float]:
    return [cx, cy, w, h, max(scores), *scores]


def rows(*items: list[float]) -> np.ndarray:
    return np.array(items, dtype=np.float32)


def test_per_class_nms_keeps_overlapping_boxes_of_different_classes() -> None:
    found = detections_from_rows(
        rows(
            row(0.5, 0.5, 0.2, 0.4, (0.9, 0.0, 0.0)),  # a cyclist
            row(0.5, 0.55, 0.2, 0.35, (0.0, 0.8, 0.0)),  # the bicycle under them
            row(0.5, 0.5, 0.21, 0.4, (0.7, 0.0, 0.0)),  # a duplicate of the cyclist
        ),
        STRETCH,
        NAMES,
        ALL,
        Thresholds(0.4, 0.45),
    )
    assert [d.class_name for d in found] == ["person", "bicycle"]
    assert [d.confidence for d in found] == pytest.approx([0.9, 0.8])


def test_boxes_are_normalised_to_the_frame_and_clipped() -> None:
    (found,) = detections_from_rows(
        rows(row(0.95, 0.5, 0.2, 0.2, (0.0, 0.0, 0.6))), STRETCH, NAMES, ALL, Thresholds()
    )
    assert (found.box.x1, found.box.y1) == pytest.approx((0.85, 0.4))
    assert (found.box.x2, found.box.y2) == pytest.approx((1.0, 0.6))


def test_threshold_and_class_filter_apply_after_the_argmax() -> None:
    data = rows(
        row(0.3, 0.3, 0.1, 0.1, (0.3, 0.5, 0.0)),  # a bicycle, barely
        row(0.7, 0.7, 0.1, 0.1, (0.39, 0.0, 0.0)),  # under the threshold
    )
    only_people = np.array([True, False, False])
    # The first box is a bicycle; filtering to people must not turn it into a 0.3 person.
    assert (
        detections_from_rows(data, STRETCH, NAMES, only_people, Thresholds(0.2, 0.45))
        == (detections_from_rows(data, STRETCH, NAMES, ALL, Thresholds(0.2, 0.45))[1:])
    )
    assert detections_from_rows(data, STRETCH, NAMES, ALL, Thresholds(0.4, 0.45))[0].class_name == (
        "bicycle"
    )


def test_boxes_left_with_no_area_after_clipping_are_dropped() -> None:
    found = detections_from_rows(
        rows(row(1.2, 0.5, 0.2, 0.2, (0.9, 0.0, 0.0))), STRETCH, NAMES, ALL, Thresholds()
    )
    assert found == ()


def test_results_are_sorted_by_confidence() -> None:
    found = detections_from_rows(
        rows(
            row(0.1, 0.1, 0.1, 0.1, (0.5, 0.0, 0.0)),
            row(0.5, 0.5, 0.1, 0.1, (0.0, 0.0, 0.95)),
            row(0.9, 0.9, 0.1, 0.1, (0.0, 0.7, 0.0)),
        ),
        STRETCH,
        NAMES,
        ALL,
        Thresholds(),
    )
    assert [d.confidence for d in found] == sorted((d.confidence for d in found), reverse=True)


@pytest.mark.parametrize(("confidence", "nms"), [(0.0, 0.5), (1.5, 0.5), (0.5, 0.0)])
def test_thresholds_are_validated(confidence: float, nms: float) -> None:
    with pytest.raises(ValueError):
        Thresholds(confidence, nms)
