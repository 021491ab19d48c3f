"""Detection settings: the model, its thresholds and which classes the pipeline keeps."""

from __future__ import annotations

from pydantic import Field

from vigie_runtime.settings import GrpcSettings, HttpSettings, ServiceSettings, StrictModel


class ModelSettings(StrictModel):
    input_size: int = Field(416, ge=128, le=1280, multiple_of=32)
    confidence: float = Field(0.4, gt=0, lt=1)
    nms: float = Field(0.45, gt=0, lt=1)
    # COCO names the pipeline keeps; everything else the model sees is dropped here.
    classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorbike", "bus", "truck"]
    )
    threads: int | None = Field(None, ge=1)


class DetectionSettings(ServiceSettings):
    group_id: str = "vigie-detection"
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=9402))
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50051))
    model: ModelSettings = Field(default_factory=ModelSettings)
    # Frames are ~50 kB each: small batches keep the commit point close to the work done.
    max_batch: int = Field(8, ge=1, le=256)
