"""The model manifest and registry: validation, file checks and the errors a person reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.detection.tiny_model import entry, write_manifest, write_tiny_model
from vigie_detection.model_files import YOLOV4_TINY_WEIGHTS_SHA256
from vigie_detection.models.errors import ModelCorrupt, ModelError, ModelNotFound
from vigie_detection.models.manifest import InputSpec, ModelSpec
from vigie_detection.models.registry import BUILTIN_MANIFEST, DEFAULT_MODEL, Registry

SHA = "0" * 64


def spec(**fields: object) -> ModelSpec:
    base: dict[str, object] = {
        "name": "m",
        "family": "darknet-yolov4",
        "source": "s",
        "licence": "l",
        "location": ".",
        "files": {
            "cfg": {"path": "a.cfg", "sha256": SHA},
            "weights": {"path": "a.w", "sha256": SHA},
        },
        "classes": ["person"],
        "input": {"size": 416, "resize": "stretch", "colour": "rgb", "scale": 1 / 255},
    }
    base.update(fields)
    return ModelSpec.model_validate(base)


def test_builtin_manifest_declares_the_default_model_with_pinned_files() -> None:
    registry = Registry()
    assert DEFAULT_MODEL in registry.names
    default = registry.spec(DEFAULT_MODEL)
    assert default.family == "darknet-yolov4"
    assert set(default.files) == {"cfg", "weights", "names"}
    assert default.input.resize == "stretch" and default.input.colour == "rgb"
    assert default.input.size == (416, 416)
    assert default.licence and default.source


def test_manifest_and_opencv_detector_pin_the_same_weights() -> None:
    pinned = Registry().spec(DEFAULT_MODEL).files["weights"].sha256
    assert pinned == YOLOV4_TINY_WEIGHTS_SHA256


def test_a_square_size_may_be_one_number() -> None:
    assert spec().input.size == (416, 416)
    assert spec(input={"size": [640, 384], "resize": "letterbox", "colour": "bgr", "scale": 1})
    with pytest.raises(ValueError, match="multiples of 32"):
        InputSpec(size=(400, 416), resize="stretch", colour="rgb", scale=1.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"files": {"cfg": {"path": "a.cfg", "sha256": SHA}}}, "cfg and weights, or onnx"),
        ({"family": "yolox"}, "a yolox model is one ONNX file"),
        ({"classes": None}, "either as classes"),
        ({"classes": ["a", "a"]}, "must not repeat"),
        ({"files": {"onnx": {"path": "m.onnx", "sha256": "abc"}}}, "pattern"),
        ({"darknet": {"outputs": "raw"}}, "need anchors and masks"),
        ({"family": "ssd"}, "darknet-yolov4"),
        ({"input": {"size": 416, "resize": "crop", "colour": "rgb", "scale": 1}}, "stretch"),
        ({"licence": ""}, "at least 1 character"),
    ],
    ids=[
        "no-weights",
        "yolox-with-cfg",
        "no-classes",
        "repeated-class",
        "bad-sha",
        "raw-without-anchors",
        "unknown-family",
        "unknown-resize",
        "no-licence",
    ],
)
def test_invalid_entries_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**fields)


def test_raw_darknet_masks_must_point_at_anchors() -> None:
    onnx = {"onnx": {"path": "m.onnx", "sha256": SHA}}
    ok = spec(
        files=onnx, darknet={"outputs": "raw", "anchors": [[1, 2], [3, 4]], "masks": [[0, 1]]}
    )
    assert ok.darknet.masks == ((0, 1),)
    with pytest.raises(ValueError, match="beyond"):
        spec(files=onnx, darknet={"outputs": "raw", "anchors": [[1, 2]], "masks": [[0, 1]]})


def test_manifest_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    data = {"models": [{"name": "x", "family": "darknet-yolov4"}]}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        Registry([path])
    assert f"{path}:2" in str(caught.value)
    assert "models.0.source" in str(caught.value)


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ModelNotFound, match=f"no model named 'yolov9'.*{DEFAULT_MODEL}"):
        Registry().spec("yolov9")


def test_a_name_declared_twice_is_refused(tmp_path: Path) -> None:
    files = write_tiny_model(tmp_path / "tiny")
    extra = write_manifest(tmp_path / "m.yaml", entry(DEFAULT_MODEL, files))
    with pytest.raises(ModelError, match=f"declared twice, in {BUILTIN_MANIFEST}"):
        Registry([extra])


def test_resolve_verifies_files_and_reads_names(tmp_path: Path) -> None:
    files = write_tiny_model(tmp_path / "tiny")
    registry = Registry([write_manifest(tmp_path / "m.yaml", entry("tiny", files))])
    resolved = registry.resolve("tiny")
    assert resolved.class_names == ("person", "car", "dog")
    assert resolved.path("weights") == files["weights"]


def test_relative_location_starts_at_the_manifest(tmp_path: Path) -> None:
    files = write_tiny_model(tmp_path / "tiny")
    manifest = write_manifest(tmp_path / "m.yaml", entry("tiny", files, location="tiny"))
    assert Registry([manifest]).resolve("tiny").path("cfg") == files["cfg"]


def test_missing_file_is_named(tmp_path: Path) -> None:
    files = write_tiny_model(tmp_path / "tiny")
    manifest = write_manifest(tmp_path / "m.yaml", entry("tiny", files))
    files["weights"].unlink()
    with pytest.raises(ModelNotFound) as caught:
        Registry([manifest]).resolve("tiny")
    message = str(caught.value)
    assert str(files["weights"]) in message and "weights of model tiny" in message
    assert str(manifest) in message  # where to fix the pin if the file moved on purpose


def test_changed_file_is_refused_with_both_checksums(tmp_path: Path) -> None:
    files = write_tiny_model(tmp_path / "tiny")
    manifest = write_manifest(tmp_path / "m.yaml", entry("tiny", files))
    data = files["weights"].read_bytes()
    files["weights"].write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelCorrupt, match="corrupt or not the expected file") as caught:
        Registry([manifest]).resolve("tiny")
    assert str(files["weights"]) in str(caught.value)


def test_only_the_files_asked_for_are_verified(tmp_path: Path) -> None:
    files = write_tiny_model(tmp_path / "tiny")
    manifest = write_manifest(tmp_path / "m.yaml", entry("tiny", files))
    files["weights"].unlink()
    assert Registry([manifest]).resolve("tiny", ("cfg",)).class_names[0] == "person"


def test_model_in_an_absent_package_says_how_to_install(tmp_path: Path) -> None:
    files = write_tiny_model(tmp_path / "tiny")
    declared = entry(
        "tiny", files, location="package:no_such_vigie_package/x", install_hint="pip install it"
    )
    manifest = write_manifest(tmp_path / "m.yaml", declared)
    with pytest.raises(ModelNotFound, match=r"no_such_vigie_package .*install it with: pip"):
        Registry([manifest]).resolve("tiny")


def test_empty_names_file_is_corrupt(tmp_path: Path) -> None:
    files = write_tiny_model(tmp_path / "tiny")
    files["names"].write_text("\n\n", encoding="utf-8")
    manifest = write_manifest(tmp_path / "m.yaml", entry("tiny", files))
    with pytest.raises(ModelCorrupt, match="is empty"):
        Registry([manifest]).resolve("tiny")
