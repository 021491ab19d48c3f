"""The agreement rule of ``make bench-faces``: which tiled faces a candidate search counts as
found, and which of its boxes count as extra."""

from __future__ import annotations

import numpy as np

from bench.bench_faces import Agreement, Frame, covers


def test_a_box_mostly_inside_a_bigger_one_is_covered() -> None:
    assert covers((0, 0, 100, 100), (10, 10, 20, 20))  # contained, IoU only 0.04
    assert covers((0, 0, 20, 20), (6, 0, 20, 20))  # shifted: IoU 0.54


def test_a_box_barely_touched_is_not_covered() -> None:
    assert not covers((0, 0, 20, 20), (14, 14, 20, 20))  # 6x6 of 20x20: IoU 0.05
    assert not covers((100, 100, 20, 20), (0, 0, 20, 20))


def test_agreement_counts_missed_per_source_and_extra_boxes() -> None:
    frame = Frame("clip", np.zeros((10, 10, 3), np.uint8), tiled=[(0, 0, 20, 20), (50, 50, 20, 20)])
    agreement = Agreement()
    agreement.add(frame, [(2, 2, 20, 20), (200, 200, 30, 30)])
    assert (agreement.tiled, agreement.candidate, agreement.found, agreement.extra) == (2, 2, 1, 1)
    assert agreement.recall == 0.5
    assert agreement.missed_by_source == {"clip": 1}
