"""Building a detector from configuration: model name, backend, thresholds, classes.

This is the one place that knows which backend can run which kind of model file:

- ``opencv`` and ``torch`` run Darknet cfg/weights (the default yolov4-tiny);
- ``onnxruntime`` runs an operator's ONNX file (Darknet/YOLOv4 or YOLOX head) as declared, or,
  for a Darknet cfg/weights model, the ONNX file exported from Vigie's torch model into the cache
  directory at install time (``python -m vigie_detection.models.export``). It never exports at
  run time: a missing export is an error giving that command.

``precision: int8`` serves the int8 file quantized from that export
(``python -m vigie_detection.models.quantize``), also a build product; only onnxruntime runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vigie_detection.adapters.detector import ModelDetector, Network
from vigie_detection.adapters.onnx_runtime import OnnxRuntimeNetwork, decoder_for, rows_as_given
from vigie_detection.adapters.opencv_dnn import OpenCvDarknetNetwork
from vigie_detection.adapters.torch_darknet import Device, TorchDarknetNetwork
from vigie_detection.models.errors import ModelUnsupported
from vigie_detection.models.int8_cache import locate_int8
from vigie_detection.models.onnx_cache import default_cache_dir, locate_export
from vigie_detection.models.postprocess import Thresholds
from vigie_detection.models.registry import DEFAULT_MODEL, Registry, ResolvedModel

Backend = Literal["opencv", "torch", "onnxruntime"]
BACKENDS: tuple[Backend, ...] = ("opencv", "torch", "onnxruntime")
Precision = Literal["float32", "int8"]


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """What a detector is built from; the detection service fills it from its settings."""

    model: str = DEFAULT_MODEL
    backend: Backend = "onnxruntime"
    input_size: int | tuple[int, int] | None = None  # None: the size the manifest gives
    confidence: float = 0.4
    nms: float = 0.45
    classes: frozenset[str] | None = None  # None: every class the model knows
    threads: int | None = None
    device: Device = "auto"
    cache_dir: Path | None = None  # ONNX exports; None: $VIGIE_MODEL_CACHE or var/models
    manifests: tuple[Path, ...] = ()  # operator manifests declaring bring-your-own models
    precision: Precision = "float32"  # int8: the quantized export, onnxruntime only


def _input_size(config: DetectorConfig, default: tuple[int, int]) -> tuple[int, int]:
    size = config.input_size
    dims = default if size is None else (size, size) if isinstance(size, int) else tuple(size)
    if len(dims) != 2 or any(d <= 0 or d % 32 for d in dims):
        raise ValueError(f"input_size must be a positive multiple of 32, got {size}")
    return dims  # type: ignore[return-value]


def _names_source(resolved: ResolvedModel) -> str:
    if "names" in resolved.paths:
        return str(resolved.path("names"))
    return f"the classes of model {resolved.name} in {resolved.manifest}"


def _darknet_only(backend: str, resolved_name: str) -> ModelUnsupported:
    return ModelUnsupported(
        f"backend {backend} runs Darknet cfg/weights models; model {resolved_name} is an ONNX "
        f"file: use backend onnxruntime"
    )


def build_network(
    config: DetectorConfig, registry: Registry, size: tuple[int, int]
) -> tuple[Network, ResolvedModel]:
    """The backend network for ``config.model``, after verifying the files it will read."""
    spec = registry.spec(config.model)
    if config.precision not in ("float32", "int8"):
        raise ModelUnsupported(f"unknown precision {config.precision!r}; choose float32 or int8")
    if config.precision == "int8" and config.backend != "onnxruntime":
        raise ModelUnsupported(
            f"precision int8 runs on backend onnxruntime only (the int8 file is an ONNX model), "
            f"not on {config.backend}: set the backend to onnxruntime or precision to float32"
        )
    if config.backend in ("opencv", "torch"):
        if not spec.has_darknet_files:
            raise _darknet_only(config.backend, spec.name)
        resolved = registry.resolve(spec.name, ("cfg", "weights"))
        cfg, weights = resolved.path("cfg"), resolved.path("weights")
        if config.backend == "opencv":
            return OpenCvDarknetNetwork(cfg, weights, config.threads), resolved
        return TorchDarknetNetwork(cfg, weights, config.device, config.threads), resolved
    if config.backend != "onnxruntime":
        raise ModelUnsupported(
            f"unknown backend {config.backend!r}; choose one of {', '.join(BACKENDS)}"
        )
    if "onnx" in spec.files:
        if config.precision == "int8":
            raise ModelUnsupported(
                f"precision int8 serves the int8 build of Vigie's export of a Darknet model; "
                f"model {spec.name} is an ONNX file of its own: quantize it yourself and "
                f"declare the result as a model"
            )
        resolved = registry.resolve(spec.name, ("onnx",))
        path = resolved.path("onnx")
        decode = decoder_for(spec, len(resolved.class_names))
    else:
        resolved = registry.resolve(spec.name, ())
        cache_dir = config.cache_dir or default_cache_dir()
        path = locate_export(spec, size, cache_dir)
        if config.precision == "int8":
            path = locate_int8(spec.name, size, cache_dir, path)
        decode = rows_as_given
    return OnnxRuntimeNetwork(path, decode, size, config.device, config.threads), resolved


def build_detector(config: DetectorConfig, registry: Registry | None = None) -> ModelDetector:
    """A ready detector: files verified, network loaded and warmed up.

    Raises ModelError (missing, corrupt or unsupported model; the message says what to do) or
    ValueError (a threshold, size or class name that makes no sense).
    """
    thresholds = Thresholds(config.confidence, config.nms)
    registry = registry or Registry(config.manifests)
    spec = registry.spec(config.model)
    size = _input_size(config, spec.input.size)
    network, resolved = build_network(config, registry, size)
    return ModelDetector(
        network,
        model_name=spec.name,
        class_names=resolved.class_names,
        input_spec=spec.input,
        input_size=size,
        thresholds=thresholds,
        classes=config.classes,
        names_source=_names_source(resolved),
    )
