"""The detector every backend presents, and the one implementation they all share.

A backend is only a ``Network``: a batch of prepared input tensors in, rows in the shared
layout out (see ``vigie_detection.models.postprocess``). Preparing frames, decoding rows into
detections, class filtering and NMS happen here, once, so backends cannot drift apart on
anything but arithmetic.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from vigie_core.types import Detection
from vigie_detection.models.errors import ModelCorrupt
from vigie_detection.models.manifest import InputSpec
from vigie_detection.models.postprocess import (
    FIRST_SCORE_COLUMN,
    Thresholds,
    detections_from_rows,
)
from vigie_detection.models.preprocess import prepare_batch
from vigie_runtime.images import as_bgr


@runtime_checkable
class Detector(Protocol):
    """What the service needs from a detector, whatever runs the model."""

    @property
    def name(self) -> str: ...

    def detect(self, image_bgr: np.ndarray) -> tuple[Detection, ...]: ...

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[tuple[Detection, ...]]: ...


class Network(Protocol):
    """A backend: (N, 3, H, W) float32 -> (N, rows, 5 + classes) in the shared layout."""

    backend: str
    max_batch: int | None  # None: any batch size in one call

    def forward(self, batch: np.ndarray) -> np.ndarray: ...


class ModelDetector:
    """A model on one backend; returns detections normalised to each frame, most confident first.

    One instance holds one network. Some runtimes (OpenCV) do not allow a network to run
    concurrently, so inference is serialised by a lock: a gRPC server and a consumer loop may
    share an instance. Preparing frames and post-processing run outside the lock.
    """

    def __init__(
        self,
        network: Network,
        *,
        model_name: str,
        class_names: tuple[str, ...],
        input_spec: InputSpec,
        input_size: tuple[int, int],
        thresholds: Thresholds,
        classes: frozenset[str] | None = None,
        names_source: str = "the manifest",
    ) -> None:
        if classes is not None:
            unknown = sorted(set(classes) - set(class_names))
            if unknown:
                # A misspelt class ("motorcycle") would otherwise filter everything out silently.
                raise ValueError(
                    f"unknown class names {unknown}; known names are in {names_source}"
                )
        self._network = network
        self._model_name = model_name
        self._names = class_names
        self._input_spec = input_spec
        self._input_size = input_size
        self._thresholds = thresholds
        self._classes = frozenset(classes) if classes is not None else frozenset(class_names)
        self._allowed = np.array([name in self._classes for name in class_names], dtype=bool)
        self._names_source = names_source
        self._lock = threading.Lock()
        self._warm_up()

    @property
    def name(self) -> str:
        """Model identity recorded with every result, so results from different sizes never mix."""
        w, h = self._input_size
        return f"{self._model_name}@{w}" if w == h else f"{self._model_name}@{w}x{h}"

    @property
    def backend(self) -> str:
        return self._network.backend

    @property
    def classes(self) -> frozenset[str]:
        """The classes this detector reports (its class filter)."""
        return self._classes

    @property
    def class_names(self) -> tuple[str, ...]:
        """Every class the model knows, in output order."""
        return self._names

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        return self._input_size

    @property
    def input_spec(self) -> InputSpec:
        return self._input_spec

    @property
    def network(self) -> Network:
        """The backend itself, for measurements that must leave pre/post-processing out."""
        return self._network

    def _warm_up(self) -> None:
        """Run once at start-up: allocates buffers and proves the network matches its names."""
        w, h = self._input_size
        rows = self._forward(np.zeros((1, 3, h, w), dtype=np.float32))
        outputs = rows.shape[-1] - FIRST_SCORE_COLUMN
        if rows.ndim != 3 or outputs != len(self._names):
            raise ModelCorrupt(
                f"model {self._model_name}: the network outputs {outputs} classes but "
                f"{self._names_source} lists {len(self._names)}"
            )

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        step = self._network.max_batch or len(batch)
        with self._lock:
            parts = [self._network.forward(batch[i : i + step]) for i in range(0, len(batch), step)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def detect(self, image_bgr: np.ndarray) -> tuple[Detection, ...]:
        """Detections on one BGR (or grey, or BGRA) frame."""
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[tuple[Detection, ...]]:
        """Detections on several frames in one network call; frames may differ in size."""
        if not images:
            return []
        frames = [as_bgr(image) for image in images]
        batch, geometries = prepare_batch(frames, self._input_spec, self._input_size)
        rows = self._forward(batch)
        return [
            detections_from_rows(rows[i], geometry, self._names, self._allowed, self._thresholds)
            for i, geometry in enumerate(geometries)
        ]
