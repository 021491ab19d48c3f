"""Building detectors by name on every backend, from a tiny model the tests write: the ONNX
export, bring-your-own ONNX files of both head families, and the errors a person reads."""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.unit.detection.tiny_model import (
    ANCHORS,
    MASKS,
    entry,
    sha256_of,
    tiny_weights,
    write_manifest,
    write_tiny_model,
)
from vigie_core.types import Detection
from vigie_detection.adapters.factory import DetectorConfig, build_detector
from vigie_detection.models.errors import ExportMissing, ModelCorrupt, ModelUnsupported
from vigie_detection.models.registry import Registry

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from vigie_detection.models.export import export_onnx, main  # noqa: E402

# Random weights give plenty of weak boxes. OpenCV zeroes class scores of 0.2 and under
# itself, so the backends agree on thresholds above that.
LOOSE = 0.25


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, Path]:
    return write_tiny_model(tmp_path / "tiny")


@pytest.fixture
def manifest(tmp_path: Path, tiny: dict[str, Path]) -> Path:
    return write_manifest(tmp_path / "models.yaml", entry("tiny", tiny))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def config(manifest: Path, cache: Path, backend: str, model: str = "tiny") -> DetectorConfig:
    return DetectorConfig(
        model=model,
        backend=backend,  # type: ignore[arg-type]
        confidence=LOOSE,
        manifests=(manifest,),
        cache_dir=cache,
        device="cpu",
    )


def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for w, h in [(96, 64), (64, 64), (50, 120)]
    ]


def same(a: tuple[Detection, ...], b: tuple[Detection, ...]) -> bool:
    """Equal up to float noise between runtimes."""
    return len(a) == len(b) and all(
        x.class_name == y.class_name
        and abs(x.confidence - y.confidence) < 1e-4
        and x.box.iou(y.box) > 0.999
        for x, y in zip(a, b, strict=True)
    )


def export(manifest: Path, cache: Path, **kwargs: object) -> Path:
    return export_onnx(Registry([manifest]).resolve("tiny"), cache, **kwargs)  # type: ignore[arg-type]


def test_every_backend_gives_the_same_detections(manifest: Path, cache: Path) -> None:
    export(manifest, cache)
    results = {}
    for backend in ("opencv", "torch", "onnxruntime"):
        detector = build_detector(config(manifest, cache, backend))
        assert detector.backend == backend and detector.name == "tiny@64"
        results[backend] = [detector.detect(image) for image in frames()]
        assert all(
            same(x, y)
            for x, y in zip(detector.detect_batch(frames()), results[backend], strict=True)
        )
    assert sum(len(r) for r in results["opencv"]) > 5
    for backend in ("torch", "onnxruntime"):
        assert all(same(x, y) for x, y in zip(results[backend], results["opencv"], strict=True))


def test_missing_export_gives_the_command(manifest: Path, cache: Path) -> None:
    with pytest.raises(ExportMissing) as caught:
        build_detector(config(manifest, cache, "onnxruntime"))
    message = str(caught.value)
    assert str(cache / "tiny-64x64.onnx") in message
    assert f"python -m vigie_detection.models.export --out {cache} --model tiny --size 64" in (
        message
    )


def test_damaged_export_is_refused(manifest: Path, cache: Path) -> None:
    path = export(manifest, cache)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelCorrupt, match="corrupt or not the expected file") as caught:
        build_detector(config(manifest, cache, "onnxruntime"))
    assert str(path) in str(caught.value) and "--force" in str(caught.value)


def test_export_from_other_weights_is_stale(
    tmp_path: Path, tiny: dict[str, Path], manifest: Path, cache: Path
) -> None:
    export(manifest, cache)
    tiny["weights"].write_bytes(tiny_weights(seed=1))
    write_manifest(manifest, entry("tiny", tiny))  # the operator pins the new weights
    with pytest.raises(ModelCorrupt, match="exported from other weights"):
        build_detector(config(manifest, cache, "onnxruntime"))
    export(manifest, cache)  # an up-to-date check sees it is stale and exports again
    assert build_detector(config(manifest, cache, "onnxruntime"))


def test_up_to_date_export_is_kept(manifest: Path, cache: Path) -> None:
    path = export(manifest, cache)
    stamp = path.stat().st_mtime_ns
    assert export(manifest, cache) == path and path.stat().st_mtime_ns == stamp
    export(manifest, cache, force=True)
    assert path.stat().st_mtime_ns != stamp


def test_export_cli(manifest: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--out", str(cache), "--model", "tiny", "--manifest", str(manifest)]
    assert main([*args, "--size", "64", "--size", "96x64"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(cache / "tiny-64x64.onnx"), str(cache / "tiny-96x64.onnx")]
    assert main(["--out", str(cache), "--model", "nope"]) == 1
    assert "no model named 'nope'" in capsys.readouterr().err


def test_bring_your_own_darknet_onnx_rows_and_raw(
    tmp_path: Path, tiny: dict[str, Path], manifest: Path, cache: Path
) -> None:
    rows_file = export(manifest, cache)
    raw_file = export(manifest, cache, outputs="raw")
    folder = tmp_path / "byo"
    folder.mkdir()
    shutil.copy(rows_file, folder / "rows.onnx")
    shutil.copy(raw_file, folder / "raw.onnx")
    shutil.copy(tiny["names"], folder / "tiny.names")
    classes = ["person", "car", "dog"]
    byo = write_manifest(
        tmp_path / "byo.yaml",
        entry("tiny", tiny),
        entry("byo-rows", {"onnx": folder / "rows.onnx"}, classes=classes),
        entry(
            "byo-raw",
            {"onnx": folder / "raw.onnx", "names": folder / "tiny.names"},
            darknet={
                "outputs": "raw",
                "anchors": [list(a) for a in ANCHORS],
                "masks": [list(m) for m in MASKS],
                "scale_x_y": [1.05, 1.05],
            },
        ),
    )
    reference = build_detector(config(byo, cache, "opencv"))
    expected = [reference.detect(image) for image in frames()]
    for name in ("byo-rows", "byo-raw"):
        detector = build_detector(config(byo, cache, "onnxruntime", model=name))
        assert detector.name == f"{name}@64"
        found = detector.detect_batch(frames())
        assert all(same(x, y) for x, y in zip(found, expected, strict=True)), name


def test_opencv_and_torch_refuse_an_onnx_only_model(
    tmp_path: Path, manifest: Path, cache: Path
) -> None:
    path = export(manifest, cache)
    byo = write_manifest(tmp_path / "byo.yaml", entry("byo", {"onnx": path}, classes=["a"] * 1))
    for backend in ("opencv", "torch"):
        with pytest.raises(ModelUnsupported, match="use backend onnxruntime"):
            build_detector(config(byo, cache, backend, model="byo"))


def test_onnx_input_size_must_match(tmp_path: Path, manifest: Path, cache: Path) -> None:
    path = export(manifest, cache, size=96)
    byo = write_manifest(
        tmp_path / "byo.yaml", entry("byo", {"onnx": path}, classes=["person", "car", "dog"])
    )
    with pytest.raises(ModelUnsupported, match="takes 96x96 images, not 64x64"):
        build_detector(config(byo, cache, "onnxruntime", model="byo"))


def test_unreadable_onnx_is_corrupt(tmp_path: Path, cache: Path) -> None:
    garbage = tmp_path / "m.onnx"
    garbage.write_bytes(b"not a model at all")
    byo = write_manifest(tmp_path / "byo.yaml", entry("byo", {"onnx": garbage}, classes=["a"]))
    with pytest.raises(ModelCorrupt, match=f"could not load the ONNX file {garbage}"):
        build_detector(config(byo, cache, "onnxruntime", model="byo"))


# A bring-your-own YOLOX file, made here as a small graph with a known output.

YOLOX_SIZE = 64
YOLOX_BOXES = 8 * 8 + 4 * 4 + 2 * 2


class FakeYolox(torch.nn.Module):
    """Outputs raw YOLOX rows with one car; its objectness is input channel 0 at the top-left
    pixel divided by 255. Official YOLOX exports take BGR 0..255 letterboxed at the top-left,
    so a frame whose top-left pixel is blue 230 must give objectness 230/255."""

    def __init__(self) -> None:
        super().__init__()
        base = torch.zeros(1, YOLOX_BOXES, 7)
        onehot = torch.zeros(1, YOLOX_BOXES, 7)
        # Input box cx=30, cy=20, w=h=20 at stride 8 lies in cell (col 3, row 2) = row 19.
        base[0, 19, :4] = torch.tensor([30 / 8 - 3, 20 / 8 - 2, math.log(20 / 8), math.log(20 / 8)])
        base[0, 19, 5:] = torch.tensor([0.0, 1.0])
        onehot[0, 19, 4] = 1.0
        self.register_buffer("base", base)
        self.register_buffer("onehot", onehot)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        objectness = (x[:, 0, 0, 0] / 255.0).reshape(-1, 1, 1)
        return self.base.expand(x.shape[0], -1, -1) + self.onehot * objectness


def test_bring_your_own_yolox(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "yolox.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notices, about itself
        torch.onnx.export(
            FakeYolox(),
            (torch.zeros(1, 3, YOLOX_SIZE, YOLOX_SIZE),),
            str(path),
            dynamo=False,
            input_names=["images"],
            output_names=["output"],
            dynamic_axes={"images": {0: "batch"}, "output": {0: "batch"}},
        )
    byo = write_manifest(
        tmp_path / "byo.yaml",
        {
            "name": "fake-yolox",
            "family": "yolox",
            "source": "made by the test suite",
            "licence": "test data",
            "location": str(tmp_path),
            "files": {"onnx": {"path": "yolox.onnx", "sha256": sha256_of(path)}},
            "classes": ["person", "car"],
            "input": {
                "size": YOLOX_SIZE,
                "resize": "letterbox",
                "pad_anchor": "top_left",
                "colour": "bgr",
                "scale": 1.0,
            },
        },
    )
    detector = build_detector(
        DetectorConfig(
            model="fake-yolox",
            backend="onnxruntime",
            manifests=(byo,),
            confidence=0.3,
            device="cpu",
        )
    )
    frame = np.zeros((96, 128, 3), dtype=np.uint8)  # scale 0.5, content 64x48 at the top-left
    frame[:4, :4] = (230, 0, 0)  # blue, over more than one input pixel
    (car,) = detector.detect(frame)
    assert car.class_name == "car" and car.confidence == pytest.approx(230 / 255, abs=1e-5)
    # Input pixels (20..40, 10..30) are frame pixels (40..80, 20..60).
    assert (car.box.x1, car.box.y1, car.box.x2, car.box.y2) == pytest.approx(
        (40 / 128, 20 / 96, 80 / 128, 60 / 96), abs=1e-5
    )
    frame[:4, :4] = (0, 0, 230)  # red: a detector reading RGB would see 230 here
    assert detector.detect(frame) == ()
