"""Frame to input tensor, and the geometry to map boxes back to the frame.

Shared by every backend so that OpenCV, PyTorch and onnxruntime see byte-identical inputs for
the same frame; the only differences left between them are the networks' arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vigie_detection.models.manifest import InputSpec


@dataclass(frozen=True, slots=True)
class Geometry:
    """How one frame was placed in the network input: resized to ``content`` at ``pad``."""

    frame_w: int
    frame_h: int
    input_w: int
    input_h: int
    content_w: int
    content_h: int
    pad_x: int = 0
    pad_y: int = 0

    @property
    def scale_x(self) -> float:
        return self.content_w / self.frame_w

    @property
    def scale_y(self) -> float:
        return self.content_h / self.frame_h

    def to_frame(self, corners_input: np.ndarray) -> np.ndarray:
        """Corners relative to the input (0..1) -> corners relative to the frame, clipped.

        A box that runs over the padding or the frame edge is clipped to the frame: what lies
        outside the frame was never seen.
        """
        out = np.empty_like(corners_input, dtype=np.float64)
        out[:, 0::2] = (corners_input[:, 0::2] * self.input_w - self.pad_x) / (
            self.scale_x * self.frame_w
        )
        out[:, 1::2] = (corners_input[:, 1::2] * self.input_h - self.pad_y) / (
            self.scale_y * self.frame_h
        )
        return np.clip(out, 0.0, 1.0)


def place(frame_w: int, frame_h: int, spec: InputSpec, size: tuple[int, int]) -> Geometry:
    """Where a frame of this size lands in an input of ``size`` (width, height)."""
    input_w, input_h = size
    if spec.resize == "stretch":
        return Geometry(frame_w, frame_h, input_w, input_h, input_w, input_h)
    ratio = min(input_w / frame_w, input_h / frame_h)
    if spec.pad_anchor == "top_left":
        # Official YOLOX truncates the resized size and pads right and bottom only.
        new_w, new_h = max(1, int(frame_w * ratio)), max(1, int(frame_h * ratio))
        pad_x = pad_y = 0
    else:
        new_w, new_h = max(1, round(frame_w * ratio)), max(1, round(frame_h * ratio))
        pad_x, pad_y = (input_w - new_w) // 2, (input_h - new_h) // 2
    # Boxes map back with the size actually drawn, not the ideal ratio.
    return Geometry(frame_w, frame_h, input_w, input_h, new_w, new_h, pad_x, pad_y)


def _resized(image_bgr: np.ndarray, geometry: Geometry, spec: InputSpec) -> np.ndarray:
    new_w, new_h = geometry.content_w, geometry.content_h
    resized = (
        image_bgr
        if (new_w, new_h) == (geometry.frame_w, geometry.frame_h)
        else cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    )
    if (new_w, new_h) == (geometry.input_w, geometry.input_h):
        return resized
    canvas = np.full((geometry.input_h, geometry.input_w, 3), spec.pad_value, dtype=np.uint8)
    x, y = geometry.pad_x, geometry.pad_y
    canvas[y : y + new_h, x : x + new_w] = resized
    return canvas


def prepare(
    image_bgr: np.ndarray, spec: InputSpec, size: tuple[int, int]
) -> tuple[np.ndarray, Geometry]:
    """One 8-bit BGR frame -> (3, H, W) float32 tensor in the model's colour order and scale."""
    frame_h, frame_w = image_bgr.shape[:2]
    geometry = place(frame_w, frame_h, spec, size)
    pixels = _resized(image_bgr, geometry, spec)
    if spec.colour == "rgb":
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    tensor = pixels.astype(np.float32)
    tensor *= np.float32(spec.scale)
    if spec.mean != (0.0, 0.0, 0.0) or spec.std != (1.0, 1.0, 1.0):
        tensor -= np.asarray(spec.mean, dtype=np.float32)
        tensor /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(tensor.transpose(2, 0, 1)), geometry


def prepare_batch(
    images_bgr: Sequence[np.ndarray], spec: InputSpec, size: tuple[int, int]
) -> tuple[np.ndarray, list[Geometry]]:
    """Frames of any sizes -> one (N, 3, H, W) batch and each frame's geometry."""
    prepared = [prepare(image, spec, size) for image in images_bgr]
    batch = np.stack([tensor for tensor, _ in prepared])
    return batch, [geometry for _, geometry in prepared]
