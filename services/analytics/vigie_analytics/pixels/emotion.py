"""Aggregate emotion per zone and window, for the cameras whose policy enables it (none by
default). Faces are found, their expression read, and the probabilities added to the window's
sums (``vigie_core.emotion``); the crop, the box and the per-face figures are then dropped. No
track, no identity, no image is involved or kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
from pydantic import Field

from vigie_analytics.pixels.base import CameraImage, PixelAnalyser, PixelAnalyserFactory
from vigie_analytics.pixels.expression import ExpressionModel, FaceFinder
from vigie_core.emotion import WHOLE_FRAME, EmotionWindows, WindowSpec
from vigie_core.scene import SceneSpec
from vigie_core.types import Event
from vigie_runtime.settings import StrictModel


class EmotionSettings(StrictModel):
    """Off unless a camera is listed: enabling it is a policy decision, per camera."""

    enabled_cameras: list[str] = Field(default_factory=list)
    window_s: float = Field(60.0, gt=0)
    # No figure for a zone and window with fewer faces: an aggregate of one is one person.
    min_faces: int = Field(5, ge=2)
    min_face_px: int = Field(24, ge=12)
    min_face_confidence: float = Field(0.6, gt=0, lt=1)

    def window(self) -> WindowSpec:
        return WindowSpec(self.window_s, self.min_faces)


class EmotionAnalyser:
    def __init__(
        self,
        scene: SceneSpec | None,
        settings: EmotionSettings,
        faces: FaceFinder,
        expressions: ExpressionModel,
    ) -> None:
        self._scene, self._faces, self._expressions = scene, faces, expressions
        self._windows = EmotionWindows(settings.window())

    def analyse(self, image: CameraImage) -> Sequence[Event]:
        grey = cv2.cvtColor(image.image_bgr, cv2.COLOR_BGR2GRAY)
        height, width = grey.shape
        readings = []
        for x, y, w, h in self._faces.find(image.image_bgr):
            centre = ((x + w / 2) / width, (y + h / 2) / height)
            readings.append(
                (self._zone_of(centre), self._expressions.probabilities(grey[y : y + h, x : x + w]))
            )
        return self._windows.add(image.frame, readings)

    def _zone_of(self, point: tuple[float, float]) -> str:
        if self._scene is None:
            return WHOLE_FRAME
        return next((z.name for z in self._scene.zones if z.polygon.contains(point)), WHOLE_FRAME)


def emotion_analyser_factory(settings: EmotionSettings) -> PixelAnalyserFactory:
    """Models are loaded (and verified) once, when the first camera needs them."""
    models: list[tuple[FaceFinder, ExpressionModel]] = []

    def build(camera_id: str, scene: SceneSpec | None) -> PixelAnalyser:
        if camera_id not in settings.enabled_cameras:
            raise ValueError(f"emotion analysis is not enabled for camera {camera_id!r}")
        if not models:
            faces = FaceFinder(settings.min_face_px, settings.min_face_confidence)
            models.append((faces, ExpressionModel()))
        faces, expressions = models[0]
        return EmotionAnalyser(scene, settings, faces, expressions)

    return build
