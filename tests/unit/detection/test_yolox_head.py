"""YOLOX decoding on head outputs built by hand: no YOLOX weights are needed to check the maths.

An official YOLOX export gives, per cell of each stride, offsets from the cell, log sizes in
stride units, then objectness and class scores (already through a sigmoid). The tests encode
known boxes that way and check the detections come back where they were put.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigie_detection.models.errors import ModelUnsupported
from vigie_detection.models.heads.yolox import decode, grids
from vigie_detection.models.manifest import InputSpec
from vigie_detection.models.postprocess import Thresholds, detections_from_rows
from vigie_detection.models.preprocess import place

SIZE = (320, 320)  # (height, width)
STRIDES = (8, 16, 32)
CLASSES = ("person", "car")
BOXES = 40 * 40 + 20 * 20 + 10 * 10


def index_of(stride: int, col: int, row: int) -> int:
    """Row of YOLOX's output for a cell: strides in order, cells row by row."""
    offset = 0
    for s in STRIDES:
        if s == stride:
            return offset + row * (SIZE[1] // s) + col
        offset += (SIZE[0] // s) * (SIZE[1] // s)
    raise ValueError(stride)


def encode(
    out: np.ndarray,
    stride: int,
    box: tuple[float, float, float, float],
    objectness: float,
    scores: tuple[float, float],
) -> None:
    """Write a box (cx, cy, w, h in input pixels) as the raw head would output it."""
    cx, cy, w, h = box
    col, row = int(cx // stride), int(cy // stride)
    i = index_of(stride, col, row)
    out[0, i, :4] = [
        cx / stride - col,
        cy / stride - row,
        math.log(w / stride),
        math.log(h / stride),
    ]
    out[0, i, 4] = objectness
    out[0, i, 5:] = scores


def test_grids_follow_yolox_order() -> None:
    cells, strides = grids(SIZE, STRIDES)
    assert cells.shape == (BOXES, 2) and strides.shape == (BOXES, 1)
    assert cells[1].tolist() == [1, 0]  # x varies fastest
    assert cells[40].tolist() == [0, 1]
    assert strides[0, 0] == 8 and strides[-1, 0] == 32


def test_decode_puts_boxes_back_and_multiplies_scores() -> None:
    out = np.zeros((1, BOXES, 5 + len(CLASSES)), dtype=np.float32)
    encode(out, 8, (100.0, 60.0, 20.0, 40.0), 0.9, (0.8, 0.1))
    encode(out, 32, (200.0, 250.0, 150.0, 90.0), 0.5, (0.2, 0.9))
    rows = decode(out, SIZE, STRIDES)[0]
    first = rows[index_of(8, 12, 7)]
    assert first[:4] == pytest.approx([100 / 320, 60 / 320, 20 / 320, 40 / 320], abs=1e-6)
    assert first[4:] == pytest.approx([0.9, 0.72, 0.09])
    second = rows[index_of(32, 6, 7)]
    assert second[:4] == pytest.approx([200 / 320, 250 / 320, 150 / 320, 90 / 320], abs=1e-6)
    assert second[5:] == pytest.approx([0.1, 0.45])


def test_detections_land_on_the_original_frame_through_a_top_left_letterbox() -> None:
    """A 640x480 frame letterboxed to 320x320 at the top-left: scale 0.5, padding below."""
    spec = InputSpec(size=320, resize="letterbox", pad_anchor="top_left", colour="bgr", scale=1)
    geometry = place(640, 480, spec, (320, 320))
    assert (geometry.content_w, geometry.content_h) == (320, 240)
    out = np.zeros((1, BOXES, 5 + len(CLASSES)), dtype=np.float32)
    # A car at frame pixels (200..400, 100..220) is at input pixels (100..200, 50..110).
    encode(out, 16, (150.0, 80.0, 100.0, 60.0), 0.95, (0.05, 0.9))
    found = detections_from_rows(
        decode(out, SIZE, STRIDES)[0], geometry, CLASSES, np.ones(2, bool), Thresholds(0.3, 0.45)
    )
    assert len(found) == 1 and found[0].class_name == "car"
    assert found[0].confidence == pytest.approx(0.855)
    box = found[0].box
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx(
        (200 / 640, 100 / 480, 400 / 640, 220 / 480), abs=1e-6
    )


def test_outputs_decoded_in_the_graph_are_only_rescaled() -> None:
    out = np.zeros((1, 3, 7), dtype=np.float32)
    out[0, 0] = [160, 80, 32, 64, 0.5, 0.5, 1.0]
    rows = decode(out, SIZE, STRIDES, decoded=True)
    assert rows[0, 0].tolist() == pytest.approx([0.5, 0.25, 0.1, 0.2, 0.5, 0.25, 0.5])


def test_a_stride_mismatch_is_explained() -> None:
    with pytest.raises(ModelUnsupported, match=r"check input\.size and yolox\.strides"):
        decode(np.zeros((1, BOXES - 1, 7), np.float32), SIZE, STRIDES)
    with pytest.raises(ModelUnsupported, match="batch, boxes, 5 \\+ classes"):
        decode(np.zeros((BOXES, 7), np.float32), SIZE, STRIDES)
