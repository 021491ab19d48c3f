"""The onnxruntime backend: an ONNX file, ours (exported from the torch model) or the operator's.

The head decode depends on the family: Vigie's export and row-layout Darknet files already give
rows; raw Darknet head maps and YOLOX outputs are decoded here in numpy. CUDA is used when
onnxruntime offers it, unless the device is pinned to the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vigie_detection.adapters.torch_darknet import Device
from vigie_detection.models.errors import ModelCorrupt, ModelUnsupported
from vigie_detection.models.heads import darknet as darknet_head
from vigie_detection.models.heads import yolox as yolox_head
from vigie_detection.models.manifest import ModelSpec
from vigie_detection.models.optional import require

# Network outputs and input (height, width) -> rows in the shared layout.
HeadDecoder = Callable[[Sequence[np.ndarray], tuple[int, int]], np.ndarray]


def rows_as_given(outputs: Sequence[np.ndarray], input_hw: tuple[int, int]) -> np.ndarray:
    if len(outputs) != 1 or outputs[0].ndim != 3:
        shapes = [o.shape for o in outputs]
        raise ModelUnsupported(
            f"a row-layout Darknet ONNX file must have one (batch, boxes, 5 + classes) output, "
            f"got {shapes}; for one output per YOLO layer set darknet.outputs: raw"
        )
    return outputs[0]


def decoder_for(spec: ModelSpec, classes: int) -> HeadDecoder:
    """How to read the outputs of an ONNX file of this model's family."""
    if spec.family == "yolox":
        head = spec.yolox
        return lambda outputs, hw: yolox_head.decode(outputs[0], hw, head.strides, head.decoded)
    if spec.darknet.outputs == "raw":
        darknet = spec.darknet
        return lambda outputs, hw: darknet_head.decode_raw(outputs, darknet, classes, hw)
    return rows_as_given


def providers(ort: object, device: Device) -> list[str]:
    available = set(ort.get_available_providers())  # type: ignore[attr-defined]
    cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not cuda:
        raise ModelUnsupported("device cuda was asked for but onnxruntime offers no CUDA provider")
    return (
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if cuda and device != "cpu"
        else ["CPUExecutionProvider"]
    )


Optimization = Literal["basic", "extended", "all"]
ExecutionMode = Literal["sequential", "parallel"]


@dataclass(frozen=True, slots=True)
class SessionTuning:
    """The onnxruntime session options a measurement chose; the service sets only ``threads``.

    One intra-op thread: on the shared 2-core machine a session ran at about 0.63 of the time
    per image of two threads (onnxruntime's own choice there), since the other stages take
    cores too, and detection scales by replicas on lag, where frames per core count more than
    one replica's latency. ``model.threads`` overrides it (the Kubernetes base sets 2);
    ``threads`` None here leaves the count to onnxruntime (one per physical core).
    """

    # Defaults measured on the 2-core machine at 416 px by `make bench-int8` (README, Performance).
    optimization: Optimization = "all"
    threads: int | None = 1
    execution: ExecutionMode = "sequential"


OPTIMIZATION_LEVELS: dict[Optimization, str] = {
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
EXECUTION_MODES: dict[ExecutionMode, str] = {
    "sequential": "ORT_SEQUENTIAL",
    "parallel": "ORT_PARALLEL",
}


def session_options(ort: object, tuning: SessionTuning) -> object:
    """onnxruntime ``SessionOptions`` for ``tuning``.

    With an explicit thread count, inter-op threads stay at 1: in sequential mode they are
    unused, and in parallel mode the two pools would otherwise compete for the same cores.
    """
    options = ort.SessionOptions()  # type: ignore[attr-defined]
    if tuning.threads is not None:
        options.intra_op_num_threads = tuning.threads
        options.inter_op_num_threads = 1
    level = OPTIMIZATION_LEVELS[tuning.optimization]
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)  # type: ignore[attr-defined]
    mode = EXECUTION_MODES[tuning.execution]
    options.execution_mode = getattr(ort.ExecutionMode, mode)  # type: ignore[attr-defined]
    return options


class OnnxRuntimeNetwork:
    """One ONNX file in an onnxruntime session; ``threads`` sets intra-op threads per session,
    ``tuning`` the other session options (their measured defaults when not given)."""

    backend = "onnxruntime"

    def __init__(
        self,
        path: Path,
        decode: HeadDecoder,
        input_size: tuple[int, int],
        device: Device = "auto",
        threads: int | None = None,
        tuning: SessionTuning | None = None,
    ) -> None:
        ort = require("onnxruntime", "the onnxruntime backend")
        tuning = tuning or SessionTuning()
        if threads is not None:
            tuning = SessionTuning(tuning.optimization, threads, tuning.execution)
        options = session_options(ort, tuning)
        self.tuning = tuning
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=providers(ort, device)
            )
        except Exception as exc:  # onnxruntime raises its own unexported exception types
            raise ModelCorrupt(f"onnxruntime could not load the ONNX file {path}: {exc}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelUnsupported(
                f"ONNX file {path} must take one (batch, 3, height, width) image input"
            )
        self._input_name = inputs[0].name
        batch, _, height, width = inputs[0].shape
        fixed = (width, height)
        if all(isinstance(d, int) for d in fixed) and fixed != tuple(input_size):
            raise ModelUnsupported(
                f"ONNX file {path} takes {width}x{height} images, not "
                f"{input_size[0]}x{input_size[1]}: set the model's input size to {width}x{height}"
            )
        self.max_batch: int | None = batch if isinstance(batch, int) and batch > 0 else None
        self._decode = decode
        self._input_hw = (input_size[1], input_size[0])
        self.path = path

    def forward(self, batch: np.ndarray) -> np.ndarray:
        outputs = self._session.run(None, {self._input_name: batch.astype(np.float32)})
        return self._decode(outputs, self._input_hw)
