"""The input-size benchmark counts what it claims and prints both sizes with their ratio."""

from __future__ import annotations

import re

import pytest

from bench import bench_input_size as bench
from tests.conftest import shared_data
from vigie_core.types import Box, Detection


def px(x: float, y: float, w: float, h: float) -> Box:
    return Box(x / 960, y / 540, (x + w) / 960, (y + h) / 540)


def test_vehicles_small_ones_and_the_red_car_are_counted_per_frame() -> None:
    figures = bench.SizeFigures(416)
    found = [
        Detection(px(902, 87, 50, 27), "car", 0.55),  # the red car, below birth confidence
        Detection(px(100, 300, 200, 120), "bus", 0.9),  # large
        Detection(px(500, 100, 40, 30), "truck", 0.5),  # small
        Detection(px(600, 200, 20, 40), "person", 0.8),  # not a vehicle
    ]
    figures.add(found, 12.0, 960)
    figures.add([Detection(px(900, 86, 53, 28), "car", 0.7)], 14.0, 960)
    figures.add([Detection(px(700, 86, 53, 28), "car", 0.9)], 10.0, 960)  # elsewhere
    assert figures.vehicles == [3, 1, 1]
    assert figures.small == [2, 1, 1]
    assert (figures.car_found, figures.car_born) == (2, 1)
    assert figures.times_ms == [12.0, 14.0, 10.0]


def test_a_short_run_prints_both_sizes_side_by_side_with_the_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clip = shared_data("events/stopped-vehicle/stopped-vehicle-1.mp4")
    # The opencv backend reads the Darknet weights at any size: no export is needed.
    assert bench.main(["--backend", "opencv", "--frames", "2", "--clip", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "| figure | 416 | 608 | 608 / 416 |" in out
    row = re.search(r"\| vehicles per frame \S.* \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", out)
    assert row is not None
    at_416, at_608, ratio = (float(g) for g in row.groups())
    # Two frames: the means are halves, printed exactly, so the ratio can be checked on them.
    assert at_416 > 0 and ratio == pytest.approx(at_608 / at_416, abs=0.006)
    assert re.search(r"\| detection ms per frame, median \| \d+ \| \d+ \| [\d.]+ \|", out)
    assert re.search(r"red car is found on \| \d / 2 \| \d / 2 \|", out)
