"""The int8 model built from the real float export, calibrated on the sample clip, on a real
street photo; and its cache: kept when up to date, rebuilt when its key changes.

The float export is made by the test itself into a temporary directory, as ``make install``
does into ``var/models``; the int8 file is built beside it, as ``make bench-int8`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import shared_data
from tests.integration.detection.reference import CONFIDENCE, NMS, SIZE
from vigie_detection.adapters.factory import DetectorConfig, build_detector
from vigie_detection.models.agreement import match_pairs
from vigie_detection.models.errors import ModelCorrupt, ModelNotFound
from vigie_detection.models.export import export_onnx
from vigie_detection.models.int8_cache import (
    DEFAULT_QUANTIZATION,
    QuantSettings,
    locate_int8,
    read_int8_record,
)
from vigie_detection.models.onnx_cache import record_path
from vigie_detection.models.quantize import head_nodes, quantize_export
from vigie_detection.models.registry import DEFAULT_MODEL, Registry, ResolvedModel

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

DIMS = (SIZE, SIZE)
# Few calibration frames for the rebuild test: building is what is tested there, not accuracy.
QUICK = QuantSettings(calibration_frames=4)


@pytest.fixture(scope="module")
def model() -> ResolvedModel:
    try:
        return Registry().resolve(DEFAULT_MODEL)
    except ModelNotFound as exc:
        pytest.skip(f"yolov4-tiny files not installed: {exc}")


@pytest.fixture(scope="module")
def clip() -> Path:
    return shared_data("intel-sample-videos/one-by-one-person-detection.mp4")


@pytest.fixture(scope="module")
def cache(model: ResolvedModel, clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    export_onnx(model, folder, SIZE)
    quantize_export(model.spec, folder, DIMS, clip=clip)
    return folder


def detector(cache: Path, precision: str) -> object:
    return build_detector(
        DetectorConfig(
            input_size=SIZE,
            confidence=CONFIDENCE,
            nms=NMS,
            cache_dir=cache,
            device="cpu",
            precision=precision,  # type: ignore[arg-type]
        )
    )


def test_int8_model_is_quantized_and_keeps_the_heads_float(cache: Path, clip: Path) -> None:
    onnx = pytest.importorskip("onnx")
    float_path = cache / f"{DEFAULT_MODEL}-{SIZE}x{SIZE}.onnx"
    path = locate_int8(DEFAULT_MODEL, DIMS, cache, float_path)
    graph = onnx.load(str(path)).graph
    ops = {node.op_type for node in graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    weights = {t.name: t.data_type for t in graph.initializer}
    int8_weights = [n for n, kind in weights.items() if kind == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 19  # every backbone and neck convolution's weights
    assert path.stat().st_size < float_path.stat().st_size / 2
    heads = set(head_nodes(onnx.load(str(float_path))))
    assert sum(1 for n in onnx.load(str(float_path)).graph.node if n.name in heads) > 10
    record = read_int8_record(record_path(path), "")
    assert record.calibration["clip"] == clip.name and record.calibration["frames"] == 32
    assert record.settings == DEFAULT_QUANTIZATION.key()


def test_int8_finds_the_people_float_finds_on_a_street_photo(cache: Path) -> None:
    image = cv2.imread(str(shared_data("coco-street/000000005001.jpg")))
    assert image is not None
    floats = [d for d in detector(cache, "float32").detect(image) if d.class_name == "person"]
    int8 = [d for d in detector(cache, "int8").detect(image) if d.class_name == "person"]
    assert len(floats) >= 5  # a crowd: the comparison means something
    matched = match_pairs(floats, int8)
    assert len(matched) >= 0.7 * len(floats), (len(matched), len(floats), len(int8))
    # The most confident person float finds, int8 must find too.
    assert any(i == 0 for i, _ in matched), floats[0]


def test_int8_file_is_kept_when_up_to_date_and_rebuilt_when_its_key_changes(
    model: ResolvedModel, clip: Path, tmp_path: Path
) -> None:
    export_onnx(model, tmp_path, SIZE)
    first = quantize_export(model.spec, tmp_path, DIMS, clip=clip, settings=QUICK)
    built = record_path(first).read_text(encoding="utf-8")
    stamp = first.stat().st_mtime_ns
    assert quantize_export(model.spec, tmp_path, DIMS, clip=clip, settings=QUICK) == first
    assert first.stat().st_mtime_ns == stamp  # up to date: not rebuilt

    changed = QuantSettings(calibration_frames=4, per_channel=False)
    float_path = tmp_path / f"{DEFAULT_MODEL}-{SIZE}x{SIZE}.onnx"
    with pytest.raises(ModelCorrupt, match="other settings"):
        locate_int8(DEFAULT_MODEL, DIMS, tmp_path, float_path, changed)
    again = quantize_export(model.spec, tmp_path, DIMS, clip=clip, settings=changed)
    assert again == first
    record = read_int8_record(record_path(again), "")
    assert record.settings == changed.key() and record_path(again).read_text() != built
    assert record.onnx_sha256 != json.loads(built)["onnx_sha256"]
    assert locate_int8(DEFAULT_MODEL, DIMS, tmp_path, float_path, changed) == again
    # The old settings are now the stale ones.
    with pytest.raises(ModelCorrupt, match="other settings"):
        locate_int8(DEFAULT_MODEL, DIMS, tmp_path, float_path, QUICK)
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert all(not name.startswith("tmp") for name in leftovers), leftovers


def test_int8_runs_the_same_input_as_float(cache: Path) -> None:
    """The int8 network takes the float network's input and gives rows of the same layout."""
    float_net = detector(cache, "float32").network  # type: ignore[attr-defined]
    int8_net = detector(cache, "int8").network  # type: ignore[attr-defined]
    batch = np.random.default_rng(0).random((1, 3, SIZE, SIZE), dtype=np.float32)
    assert float_net.forward(batch).shape == int8_net.forward(batch).shape == (1, 2535, 85)
