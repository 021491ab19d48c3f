"""Frame to tensor: resize modes, padding, colour order, scaling, and the way back."""

from __future__ import annotations

import numpy as np
import pytest

from vigie_detection.models.manifest import InputSpec
from vigie_detection.models.preprocess import place, prepare, prepare_batch

DARKNET = InputSpec(size=416, resize="stretch", colour="rgb", scale=1 / 255)
CENTRED = InputSpec(size=416, resize="letterbox", colour="rgb", scale=1 / 255)
YOLOX = InputSpec(size=416, resize="letterbox", pad_anchor="top_left", colour="bgr", scale=1.0)


def frame(width: int, height: int, bgr: tuple[int, int, int] = (10, 20, 30)) -> np.ndarray:
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = bgr
    return image


def test_stretch_fills_the_input_in_rgb_scaled_to_one() -> None:
    tensor, geometry = prepare(frame(768, 432), DARKNET, (416, 416))
    assert tensor.shape == (3, 416, 416) and tensor.dtype == np.float32
    assert np.allclose(tensor[:, 200, 200], np.array([30, 20, 10]) / 255)
    assert (geometry.pad_x, geometry.pad_y) == (0, 0)
    assert (geometry.content_w, geometry.content_h) == (416, 416)


def test_centred_letterbox_keeps_aspect_and_pads_grey() -> None:
    tensor, geometry = prepare(frame(768, 432), CENTRED, (416, 416))
    assert (geometry.content_w, geometry.content_h) == (416, 234)
    assert geometry.pad_y == (416 - 234) // 2 and geometry.pad_x == 0
    assert np.allclose(tensor[:, 0, 0], 114 / 255)  # padding above the picture
    assert np.allclose(tensor[:, 208, 208], np.array([30, 20, 10]) / 255)
    assert np.allclose(tensor[:, 415, 415], 114 / 255)  # padding below


def test_yolox_letterbox_is_top_left_bgr_unscaled() -> None:
    tensor, geometry = prepare(frame(768, 432), YOLOX, (416, 416))
    assert (geometry.pad_x, geometry.pad_y) == (0, 0)
    # YOLOX truncates frame size x ratio, as its own preproc does (233.99... -> 233).
    assert geometry.content_h == int(432 * min(416 / 768, 416 / 432)) == 233
    assert np.allclose(tensor[:, 0, 0], [10, 20, 30])
    assert np.allclose(tensor[:, 415, 0], 114)


def test_mean_and_std_apply_after_scaling() -> None:
    spec = InputSpec(
        size=32,
        resize="stretch",
        colour="rgb",
        scale=1 / 255,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.5, 1.0),
    )
    tensor, _ = prepare(frame(32, 32, (255, 0, 255)), spec, (32, 32))
    assert np.allclose(tensor[:, 0, 0], [(1 - 0.5) / 0.25, (0 - 0.5) / 0.5, (1 - 0.5) / 1.0])


@pytest.mark.parametrize("spec", [DARKNET, CENTRED, YOLOX], ids=["stretch", "centred", "top-left"])
@pytest.mark.parametrize("size", [(768, 432), (432, 768), (416, 416), (100, 1000)])
def test_boxes_map_back_to_the_frame(spec: InputSpec, size: tuple[int, int]) -> None:
    """A box drawn in the frame, carried into the input by the same geometry, comes back."""
    width, height = size
    geometry = place(width, height, spec, (416, 416))
    in_frame = np.array([[0.1, 0.2, 0.6, 0.9]])  # normalised to the frame
    in_input = np.empty_like(in_frame)
    in_input[:, 0::2] = (in_frame[:, 0::2] * width * geometry.scale_x + geometry.pad_x) / 416
    in_input[:, 1::2] = (in_frame[:, 1::2] * height * geometry.scale_y + geometry.pad_y) / 416
    assert np.allclose(geometry.to_frame(in_input), in_frame)


def test_boxes_over_the_padding_are_clipped_to_the_frame() -> None:
    geometry = place(768, 432, CENTRED, (416, 416))
    corners = geometry.to_frame(np.array([[-0.1, 0.0, 0.5, 1.0]]))
    assert corners.tolist() == [[0.0, 0.0, pytest.approx(0.5), 1.0]]


def test_batches_mix_frame_sizes() -> None:
    batch, geometries = prepare_batch([frame(768, 432), frame(640, 480)], CENTRED, (416, 416))
    assert batch.shape == (2, 3, 416, 416)
    assert [g.frame_w for g in geometries] == [768, 640]
