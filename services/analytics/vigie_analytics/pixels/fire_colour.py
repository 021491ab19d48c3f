"""Per-frame pixel maths of the fire and smoke analyser: which pixels look like flame or smoke.

Flame: bright, saturated, red to yellow, with red >= green > blue (the colour rules of Chen et
al., "An early fire-detection method based on image processing", ICIP 2004, in HSV). Smoke:
greyish (low saturation), mid-bright pixels that differ from the slowly learnt background and
have lost texture there (smoke blurs what is behind it). Both masks are computed on a frame
scaled down to ``WORK_WIDTH``: flames and smoke are large, and the analyser must stay cheap beside
the detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WORK_WIDTH = 160


def work_image(image_bgr: np.ndarray) -> np.ndarray:
    height, width = image_bgr.shape[:2]
    scale = WORK_WIDTH / width
    return cv2.resize(image_bgr, (WORK_WIDTH, max(1, round(height * scale))), cv2.INTER_AREA)


@dataclass(frozen=True, slots=True)
class FlameColour:
    """Thresholds of the flame-colour rule (OpenCV HSV: hue 0-180, saturation and value 0-255)."""

    max_hue: int = 35  # red (0) through orange to yellow (~30)
    min_saturation: int = 90
    min_value: int = 170


def flame_mask(work_bgr: np.ndarray, colour: FlameColour = FlameColour()) -> np.ndarray:
    """Boolean mask of flame-coloured pixels."""
    hsv = cv2.cvtColor(work_bgr, cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    b, g, r = (work_bgr[..., i].astype(np.int16) for i in range(3))
    return (
        (hue <= colour.max_hue)
        & (sat >= colour.min_saturation)
        & (val >= colour.min_value)
        & (r >= g)
        & (g > b)
    )


@dataclass(frozen=True, slots=True)
class SmokeColour:
    max_saturation: int = 40
    min_value: int = 90
    max_value: int = 230
    min_difference: int = 18  # grey levels away from the background
    min_texture_loss: float = 0.5  # local texture at most half the background's


def smoke_mask(
    work_bgr: np.ndarray,
    background: np.ndarray,
    background_texture: np.ndarray,
    colour: SmokeColour = SmokeColour(),
) -> np.ndarray:
    """Boolean mask of smoke-like pixels against a float32 grey ``background`` and its texture."""
    hsv = cv2.cvtColor(work_bgr, cv2.COLOR_BGR2HSV)
    grey = cv2.cvtColor(work_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    texture = local_texture(grey)
    return (
        (hsv[..., 1] <= colour.max_saturation)
        & (hsv[..., 2] >= colour.min_value)
        & (hsv[..., 2] <= colour.max_value)
        & (np.abs(grey - background) >= colour.min_difference)
        & (texture <= colour.min_texture_loss * background_texture + 1.0)
    )


def local_texture(grey: np.ndarray) -> np.ndarray:
    """Mean absolute Laplacian over a 5x5 neighbourhood: high on edges and detail."""
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
    return cv2.blur(laplacian, (5, 5))


def bounding_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """The mask's extent in normalised coordinates, or None when it is empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    height, width = mask.shape
    return (
        float(xs.min()) / width,
        float(ys.min()) / height,
        float(xs.max() + 1) / width,
        float(ys.max() + 1) / height,
    )
