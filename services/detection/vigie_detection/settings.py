"""Detection settings: the model, its backend, its thresholds and which classes are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from vigie_core.colours import NEVER_COLOURED
from vigie_detection.interval import IntervalSettings
from vigie_detection.vehicle_colour import VEHICLE_CLASSES
from vigie_runtime.freshness import CameraFreshness, FreshnessSettings
from vigie_runtime.image_header import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageLimits
from vigie_runtime.settings import GrpcSettings, HttpSettings, ServiceSettings, StrictModel
from vigie_runtime.topology import DETECTION

__all__ = ["CameraFreshness", "DetectionSettings", "FreshnessSettings"]


class ModelSettings(StrictModel):
    # An entry of the model registry: the built-in manifest, or `manifest` for your own.
    name: str = "yolov4-tiny-coco"
    # onnxruntime is the fastest backend on CPU at batch 1 and the lightest (`make bench-detect`);
    # it runs the ONNX file `make install` exports. torch is for GPU nodes.
    backend: Literal["opencv", "torch", "onnxruntime"] = "onnxruntime"
    manifest: Path | None = None
    # ONNX exports made by `make install` (python -m vigie_detection.models.export).
    cache_dir: Path = Path("var/models")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # None: the size the manifest gives (416 for yolov4-tiny).
    input_size: int | None = Field(None, ge=128, le=1280, multiple_of=32)
    confidence: float = Field(0.4, gt=0, lt=1)
    nms: float = Field(0.45, gt=0, lt=1)
    # Class names the pipeline keeps, for every camera unless `camera_classes` says otherwise.
    classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorbike", "bus", "truck"]
    )
    camera_classes: dict[str, list[str]] = Field(default_factory=dict)
    threads: int | None = Field(None, ge=1)
    # int8: the export quantized by `python -m vigie_detection.models.quantize`, onnxruntime
    # only; faster, and loses some boxes (`make bench-int8`), so float32 stays the default.
    precision: Literal["float32", "int8"] = "float32"


class BatchingSettings(StrictModel):
    """Frames from every camera are detected together: one network call costs less per frame."""

    # Frames per network call. 1 on CPU: onnxruntime does as many frames/s at batch 1 as at 4
    # with a third less memory and no wait (`make bench-detect`); opencv gains from 4, a GPU
    # from more.
    max_batch: int = Field(1, ge=1, le=64)
    # How long to keep polling to fill a batch once its first frame has arrived: latency paid
    # for throughput. 0: detect what has already arrived, never wait.
    max_wait_ms: float = Field(10.0, ge=0, le=1000)


class VehicleColourSettings(StrictModel):
    """Detections of these classes get a colour name read from the centre of their box (a
    few tens of microseconds per box). Empty: no colours. People can never be listed."""

    classes: list[str] = Field(default_factory=lambda: sorted(VEHICLE_CLASSES))

    @field_validator("classes")
    @classmethod
    def _no_people(cls, classes: list[str]) -> list[str]:
        refused = sorted(set(classes) & NEVER_COLOURED)
        if refused:
            raise ValueError(
                f"{refused} cannot be given a colour: clothing colours help single out a person"
            )
        return classes


class ImageSettings(StrictModel):
    """The largest image decoded, from a frame or a Detect call, read from its header first:
    decoding allocates width x height x 3 bytes whatever the payload weighs."""

    # 4096 x 4096 by default: above 4K UHD. Raise it for cameras that stream more.
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, le=2**30)
    # The frames topic takes messages of up to 8 MB.
    max_bytes: int = Field(DEFAULT_MAX_BYTES, ge=1, le=1024 * 1024 * 1024)

    def limits(self) -> ImageLimits:
        return ImageLimits(max_pixels=self.max_pixels, max_bytes=self.max_bytes)


class DetectionSettings(ServiceSettings):
    group_id: str = DETECTION.group_id
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=DETECTION.http_port))
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=DETECTION.grpc()))
    model: ModelSettings = Field(default_factory=ModelSettings)
    # Frames are ~50 kB each: small batches keep the commit point close to the work done.
    max_batch: int = Field(8, ge=1, le=256)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    freshness: FreshnessSettings = Field(default_factory=FreshnessSettings)
    # The model looks at one frame in k per camera; the tracker carries the others.
    interval: IntervalSettings = Field(default_factory=IntervalSettings)
    vehicle_colour: VehicleColourSettings = Field(default_factory=VehicleColourSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
