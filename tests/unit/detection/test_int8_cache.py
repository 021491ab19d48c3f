"""Precision int8 in the factory, and the int8 file's record: missing, stale or intact.

The ONNX files here are stand-in bytes: what is tested is the bookkeeping that decides whether
an int8 file may be served, not the model (tests/integration/detection/test_int8.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from vigie_detection.adapters.factory import DetectorConfig, build_detector
from vigie_detection.models.errors import ExportMissing, ModelCorrupt, ModelUnsupported
from vigie_detection.models.int8_cache import (
    Int8Record,
    QuantSettings,
    int8_file_name,
    locate_int8,
)
from vigie_detection.models.onnx_cache import ExportRecord, onnx_file_name, record_path
from vigie_detection.settings import ModelSettings

MODEL, SIZE = "yolov4-tiny-coco", (416, 416)


def write_float(cache: Path, content: bytes = b"float model") -> Path:
    path = cache / onnx_file_name(MODEL, SIZE)
    path.write_bytes(content)
    record = ExportRecord(
        MODEL, SIZE, "rows", hashlib.sha256(content).hexdigest(), {"weights": "w"}, "test"
    )
    record_path(path).write_text(record.to_json(), encoding="utf-8")
    return path


def write_int8(cache: Path, float_path: Path, settings: QuantSettings) -> Path:
    path = cache / int8_file_name(MODEL, SIZE)
    path.write_bytes(b"int8 model")
    record = Int8Record(
        model=MODEL,
        input_size=SIZE,
        onnx_sha256=hashlib.sha256(b"int8 model").hexdigest(),
        float_sha256=hashlib.sha256(float_path.read_bytes()).hexdigest(),
        settings=settings.key(),
    )
    record_path(path).write_text(record.to_json(), encoding="utf-8")
    return path


def test_int8_name_sits_beside_the_float_export() -> None:
    assert int8_file_name(MODEL, SIZE) == "yolov4-tiny-coco-416x416-int8.onnx"


def test_intact_int8_file_is_served(tmp_path: Path) -> None:
    float_path = write_float(tmp_path)
    path = write_int8(tmp_path, float_path, QuantSettings())
    assert locate_int8(MODEL, SIZE, tmp_path, float_path) == path


def test_missing_int8_file_gives_the_quantize_command(tmp_path: Path) -> None:
    float_path = write_float(tmp_path)
    with pytest.raises(ExportMissing) as caught:
        locate_int8(MODEL, SIZE, tmp_path, float_path)
    assert f"python -m vigie_detection.models.quantize --out {tmp_path}" in str(caught.value)


def test_int8_of_another_float_export_is_stale(tmp_path: Path) -> None:
    float_path = write_float(tmp_path)
    write_int8(tmp_path, float_path, QuantSettings())
    write_float(tmp_path, b"float model, exported again from other weights")
    with pytest.raises(ModelCorrupt, match="float export was re-made"):
        locate_int8(MODEL, SIZE, tmp_path, float_path)


def test_int8_of_other_settings_is_stale(tmp_path: Path) -> None:
    float_path = write_float(tmp_path)
    write_int8(tmp_path, float_path, QuantSettings(per_channel=False))
    with pytest.raises(ModelCorrupt, match="other settings"):
        locate_int8(MODEL, SIZE, tmp_path, float_path)
    # ...and is what is served when those are the settings asked for.
    assert locate_int8(MODEL, SIZE, tmp_path, float_path, QuantSettings(per_channel=False))


def test_damaged_int8_file_is_refused(tmp_path: Path) -> None:
    float_path = write_float(tmp_path)
    path = write_int8(tmp_path, float_path, QuantSettings())
    path.write_bytes(b"int8 mod")
    with pytest.raises(ModelCorrupt, match="rebuild it with"):
        locate_int8(MODEL, SIZE, tmp_path, float_path)


@pytest.mark.parametrize("backend", ["opencv", "torch"])
def test_int8_needs_onnxruntime(backend: str, tmp_path: Path) -> None:
    config = DetectorConfig(backend=backend, precision="int8", cache_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ModelUnsupported, match="precision int8 runs on backend onnxruntime only"):
        build_detector(config)


def test_precision_setting_defaults_to_float32_and_refuses_others() -> None:
    assert ModelSettings().precision == "float32"
    assert ModelSettings(precision="int8").precision == "int8"
    with pytest.raises(ValidationError, match="precision"):
        ModelSettings(precision="int4")  # type: ignore[arg-type]
