"""One-to-one matching and agreement counts between two detectors' boxes."""

from __future__ import annotations

from vigie_core.types import Box, Detection
from vigie_detection.models.agreement import (
    Agreement,
    agreement,
    match_pairs,
    total_agreement,
)


def det(x1: float, y1: float, x2: float, y2: float, name: str = "person") -> Detection:
    return Detection(Box(x1, y1, x2, y2), name, 0.9)


def test_identical_boxes_all_match() -> None:
    boxes = [det(0.1, 0.1, 0.3, 0.5), det(0.5, 0.5, 0.7, 0.9, "car")]
    assert match_pairs(boxes, boxes) == [(0, 0), (1, 1)]
    result = agreement(boxes, boxes)
    assert result == Agreement(2, 2, 2)
    assert result.reference_found == result.candidate_confirmed == 1.0


def test_other_class_never_matches() -> None:
    assert match_pairs([det(0.1, 0.1, 0.3, 0.5)], [det(0.1, 0.1, 0.3, 0.5, "car")]) == []


def test_iou_threshold_is_inclusive_at_one_half() -> None:
    reference = [det(0.0, 0.0, 0.5, 1.0)]
    # The upper half of the reference box: overlap 0.25 over union 0.5, IoU exactly 0.5.
    half = [det(0.0, 0.0, 0.5, 0.5)]
    below = [det(0.0, 0.0, 0.5, 0.49)]
    assert half[0].box.iou(reference[0].box) == 0.5
    assert match_pairs(reference, half) == [(0, 0)]
    assert match_pairs(reference, below) == []


def test_two_candidates_on_one_object_count_once() -> None:
    reference = [det(0.1, 0.1, 0.3, 0.5)]
    candidate = [det(0.1, 0.1, 0.3, 0.49), det(0.1, 0.1, 0.3, 0.5)]
    assert match_pairs(reference, candidate) == [(0, 1)]  # the better overlap wins
    result = agreement(reference, candidate)
    assert (result.matched, result.reference_found, result.candidate_confirmed) == (1, 1.0, 0.5)


def test_greedy_gives_each_reference_its_best_free_candidate() -> None:
    left, right = det(0.0, 0.0, 0.4, 1.0), det(0.3, 0.0, 0.7, 1.0)
    near_left, near_right = det(0.02, 0.0, 0.42, 1.0), det(0.3, 0.0, 0.69, 1.0)
    assert sorted(match_pairs([left, right], [near_right, near_left])) == [(0, 1), (1, 0)]


def test_counts_by_class_and_over_frames() -> None:
    person, car = det(0.1, 0.1, 0.3, 0.5), det(0.5, 0.5, 0.9, 0.9, "car")
    frames = [([person, car], [person]), ([], [car]), ([car], [])]
    assert total_agreement(frames) == Agreement(reference=3, candidate=2, matched=1)
    people = total_agreement(frames, class_name="person")
    assert people == Agreement(1, 1, 1)
    cars = total_agreement(frames, class_name="car")
    assert (cars.reference_found, cars.candidate_confirmed) == (0.0, 0.0)


def test_no_boxes_at_all_is_full_agreement() -> None:
    assert agreement([], []).reference_found == agreement([], []).candidate_confirmed == 1.0
