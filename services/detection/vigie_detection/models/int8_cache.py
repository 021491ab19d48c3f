"""Where the int8 version of an ONNX export lives, and proof that it is still the right one.

The int8 file is a build product made from the float export (``python -m
vigie_detection.models.quantize``), kept beside it in the same cache directory. Its JSON record
holds the key it was built under: the sha256 of the float export it was quantized from and the
quantization settings. At start-up the service refuses an int8 file whose float export was
re-made or whose settings are no longer the ones this code pins, instead of silently serving a
model quantized from other weights; the quantize command rebuilds it for the same reasons.

This module imports neither onnx nor onnxruntime: the service reads records without them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from vigie_detection.models.errors import ModelCorrupt
from vigie_detection.models.onnx_cache import (
    onnx_file_name,
    read_record,
    record_path,
    require_built,
)
from vigie_detection.models.registry import verify_file

QuantFormat = Literal["qdq", "qoperator"]
CalibrationMethod = Literal["minmax", "entropy", "percentile"]


@dataclass(frozen=True, slots=True)
class QuantSettings:
    """How the float export is quantized; any change makes a different int8 model.

    The defaults measured best here (README, Performance): QDQ, per-channel int8 weights with
    7-bit range. Without VNNI (AVX2 only), onnxruntime's u8s8 kernels can saturate; the
    reduced range avoids it: with 8-bit range or per-tensor weights int8 lost a fifth to a
    third of the float model's boxes on the street photos, against about a tenth. QOperator
    measured as fast with no better agreement; QDQ is the format onnxruntime recommends.
    """

    format: QuantFormat = "qdq"
    per_channel: bool = True
    reduce_range: bool = True
    method: CalibrationMethod = "minmax"
    # Frames spread evenly over the calibration clip.
    calibration_frames: int = 32

    def key(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_QUANTIZATION = QuantSettings()


@dataclass(frozen=True, slots=True)
class Int8Record:
    """What an int8 file was built from, stored beside it as JSON."""

    model: str
    input_size: tuple[int, int]  # width, height
    onnx_sha256: str  # the int8 file itself
    float_sha256: str  # the float export it was quantized from
    settings: dict[str, Any]  # QuantSettings.key()
    calibration: dict[str, Any] = field(default_factory=dict)  # clip name, sha256, frames
    quantizer: str = ""  # e.g. "onnxruntime 1.32.0", for audits

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def int8_file_name(model: str, size: tuple[int, int]) -> str:
    return onnx_file_name(model, size).removesuffix(".onnx") + "-int8.onnx"


def quantize_command(model: str, size: tuple[int, int], cache_dir: Path) -> str:
    size_arg = str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"
    return (
        f"python -m vigie_detection.models.quantize --out {cache_dir} --model {model} "
        f"--size {size_arg}"
    )


def read_int8_record(path: Path, how_to_fix: str) -> Int8Record:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["input_size"] = tuple(data["input_size"])
        return Int8Record(**data)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelCorrupt(f"int8 record {path} is unreadable ({exc}); {how_to_fix}") from None


def stale_reason(
    record: Int8Record, float_path: Path, size: tuple[int, int], settings: QuantSettings
) -> str | None:
    """Why the int8 file of ``record`` no longer matches its key, or None when it does."""
    float_record = read_record(record_path(float_path), "re-export the float model")
    if record.float_sha256 != float_record.onnx_sha256:
        return "its float export was re-made since"
    if tuple(record.input_size) != tuple(size):
        return f"it takes {record.input_size[0]}x{record.input_size[1]} images"
    if record.settings != settings.key():
        return f"it was quantized with other settings ({record.settings})"
    return None


def locate_int8(
    model: str,
    size: tuple[int, int],
    cache_dir: Path,
    float_path: Path,
    settings: QuantSettings = DEFAULT_QUANTIZATION,
) -> Path:
    """The verified int8 file quantized from the (already verified) float export ``float_path``.

    Raises ExportMissing with the quantize command when it was never built, and ModelCorrupt
    when it is damaged or stale (another float export, input size or settings).
    """
    path = cache_dir / int8_file_name(model, size)
    command = quantize_command(model, size, cache_dir)
    require_built(path, f"the int8 model of {model} at {size[0]}x{size[1]}", command)
    fix = f"rebuild it with: {command} --force"
    record = read_int8_record(record_path(path), fix)
    reason = stale_reason(record, float_path, size, settings)
    if reason is not None:
        raise ModelCorrupt(f"int8 model {path} is stale: {reason}; {fix}")
    verify_file(path, record.onnx_sha256, f"int8 model of {model}", fix)
    return path
