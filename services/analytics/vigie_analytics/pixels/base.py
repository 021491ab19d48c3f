"""The shape every pixel analyser has, so the service can run any of them the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vigie_core.scene import SceneSpec
from vigie_core.types import Event, FrameRef


@dataclass(frozen=True, slots=True)
class CameraImage:
    """One decoded frame: ``image_bgr`` is H x W x 3 uint8, in OpenCV's channel order. The time
    is ``frame.captured_at`` (the camera's clock), never the analyser's own."""

    frame: FrameRef
    image_bgr: np.ndarray


class PixelAnalyser(Protocol):
    """The state of one camera; ``analyse`` is called with its frames in capture order."""

    def analyse(self, image: CameraImage) -> Sequence[Event]: ...


PixelAnalyserFactory = Callable[[str, SceneSpec | None], PixelAnalyser]
"""Builds the analyser of one camera from its id and its scene (zones), if it has one."""
