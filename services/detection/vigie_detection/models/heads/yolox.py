"""Decoding YOLOX head outputs into rows.

Official YOLOX ONNX exports leave the decode out of the graph: the output (batch, boxes,
5 + classes) holds, per grid cell of each stride (8, 16, 32 by default, cells row by row),
offsets ``dx, dy`` from the cell and log sizes ``log w, log h`` in stride units, then
objectness and class scores already through a sigmoid. Decoding is

    cx = (dx + col) * stride,  w = exp(log w) * stride,  score = objectness x class score

which gives input pixels; rows are then made relative to the input like every other head.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vigie_detection.models.errors import ModelUnsupported


def grids(input_hw: tuple[int, int], strides: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per output row: the (col, row) of its cell and its stride, in YOLOX's row order."""
    cells, per_row_stride = [], []
    for stride in strides:
        h, w = input_hw[0] // stride, input_hw[1] // stride
        xv, yv = np.meshgrid(np.arange(w), np.arange(h))
        cells.append(np.stack((xv, yv), axis=2).reshape(-1, 2))
        per_row_stride.append(np.full((h * w, 1), stride))
    return (
        np.concatenate(cells).astype(np.float32),
        np.concatenate(per_row_stride).astype(np.float32),
    )


def decode(
    output: np.ndarray, input_hw: tuple[int, int], strides: Sequence[int], decoded: bool = False
) -> np.ndarray:
    """(n, boxes, 5 + C) YOLOX output -> rows (n, boxes, 5 + C) relative to the input."""
    if output.ndim != 3 or output.shape[2] < 6:
        raise ModelUnsupported(
            f"a YOLOX output must be (batch, boxes, 5 + classes), got shape {output.shape}"
        )
    out = output.astype(np.float32, copy=True)
    if not decoded:
        cells, stride = grids(input_hw, strides)
        if len(cells) != out.shape[1]:
            raise ModelUnsupported(
                f"the YOLOX output has {out.shape[1]} boxes but an input of {input_hw[1]}x"
                f"{input_hw[0]} with strides {tuple(strides)} gives {len(cells)}: check "
                f"input.size and yolox.strides in the manifest"
            )
        out[..., 0:2] = (out[..., 0:2] + cells) * stride
        out[..., 2:4] = np.exp(out[..., 2:4]) * stride
    scale = np.array([input_hw[1], input_hw[0], input_hw[1], input_hw[0]], dtype=np.float32)
    out[..., 0:4] /= scale
    out[..., 5:] *= out[..., 4:5]
    return out
