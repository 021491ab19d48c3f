"""Turning image bytes and arrays into 8-bit BGR frames, or a clear refusal; every stage that
reads pixels (detection, the pixel analysers of analytics, storage's snapshots) decodes frames
here, after the header check of :mod:`vigie_runtime.image_header`."""

from __future__ import annotations

import cv2
import numpy as np

from vigie_runtime.image_header import ImageLimits, InvalidImage, check_image

__all__ = ["ImageLimits", "InvalidImage", "as_bgr", "decode_jpeg"]

_DEFAULT_LIMITS = ImageLimits()


def decode_jpeg(data: bytes, limits: ImageLimits = _DEFAULT_LIMITS) -> np.ndarray:
    """Decode JPEG or PNG bytes into a BGR image, once the header says it is within ``limits``.

    Frames cross process boundaries as JPEG; a garbled payload must be a clear, catchable error
    for the caller to report, not a ``None`` that fails three calls later, and an image whose
    header declares more pixels than ``limits`` allow is refused before a byte is allocated for
    it. Other formats are refused: their size cannot be checked before decoding.
    """
    check_image(data, limits)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise InvalidImage(f"image payload of {len(data)} bytes does not decode: {exc}") from exc
    if image is None or image.size == 0:
        raise InvalidImage(f"image payload of {len(data)} bytes does not decode as an image")
    return image


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Accept grey and BGRA frames too: some cameras deliver them and the network wants 3 planes."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise InvalidImage("image is empty or not a numpy array")
    if image.dtype != np.uint8:
        raise InvalidImage(f"image must be 8-bit, got {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise InvalidImage(f"image must be HxW, HxWx3 or HxWx4, got shape {image.shape}")
