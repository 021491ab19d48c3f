"""Where exported ONNX files live, and proof that one is the export of the pinned weights.

An export is a build product (``python -m vigie_detection.models.export``), kept under a cache
directory (``var/models`` by default), never committed and never produced silently by a running
service. Beside each ``.onnx`` a small JSON record keeps the file's own sha256 and the sha256 of
the cfg and weights it was exported from, so that at start-up the service can refuse an ONNX
file that was damaged, or exported from other weights than the manifest now pins.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from vigie_detection.models.errors import ExportMissing, ModelCorrupt
from vigie_detection.models.manifest import ModelSpec
from vigie_detection.models.registry import verify_file

CACHE_ENV = "VIGIE_MODEL_CACHE"
DEFAULT_CACHE = Path("var") / "models"
SOURCE_ROLES = ("cfg", "weights")


@dataclass(frozen=True, slots=True)
class ExportRecord:
    model: str
    input_size: tuple[int, int]  # width, height
    outputs: str  # "rows" (decoded in the graph) or "raw" (head maps)
    onnx_sha256: str
    sources: dict[str, str]  # role -> sha256 of the file exported from
    exporter: str  # e.g. "torch 2.13.0", for audits

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def default_cache_dir() -> Path:
    """``$VIGIE_MODEL_CACHE`` if set, else ``var/models`` under the working directory."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def onnx_file_name(model: str, size: tuple[int, int], outputs: str = "rows") -> str:
    suffix = "" if outputs == "rows" else f"-{outputs}"
    return f"{model}-{size[0]}x{size[1]}{suffix}.onnx"


def record_path(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".json")


def export_command(model: str, size: tuple[int, int], cache_dir: Path) -> str:
    size_arg = str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"
    return (
        f"python -m vigie_detection.models.export --out {cache_dir} --model {model} "
        f"--size {size_arg}"
    )


def pinned_sources(spec: ModelSpec) -> dict[str, str]:
    return {role: spec.files[role].sha256 for role in SOURCE_ROLES if role in spec.files}


def parse_size(text: str) -> tuple[int, int]:
    """An input size from the command line: ``N`` (square) or ``WxH``."""
    width, _, height = text.lower().partition("x")
    try:
        return (int(width), int(height or width))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or WxH, got {text!r}") from None


def write_record(path: Path, text: str) -> None:
    """Write a record beside its model so that a reader sees the old file or the new one, never
    half of one: a crash mid-write would otherwise leave a record that fails validation."""
    handle, temporary = tempfile.mkstemp(suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # a build product others read, not a private temporary
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def require_built(model_path: Path, what: str, command: str) -> None:
    """Raise ExportMissing, naming the command that builds it, when a model file or its record
    was never produced; the service never builds one silently."""
    record_file = record_path(model_path)
    if model_path.is_file() and record_file.is_file():
        return
    missing = model_path if not model_path.is_file() else record_file
    raise ExportMissing(f"{what} is missing ({missing} not found); build it with: {command}")


def read_record(path: Path, how_to_fix: str) -> ExportRecord:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["input_size"] = tuple(data["input_size"])
        return ExportRecord(**data)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelCorrupt(f"export record {path} is unreadable ({exc}); {how_to_fix}") from None


def locate_export(spec: ModelSpec, size: tuple[int, int], cache_dir: Path) -> Path:
    """The verified ONNX export of ``spec`` at ``size`` in ``cache_dir``.

    Raises ExportMissing with the export command when it was never produced, and ModelCorrupt
    when it is damaged or was exported from other weights than the manifest pins.
    """
    onnx_path = cache_dir / onnx_file_name(spec.name, size)
    command = export_command(spec.name, size, cache_dir)
    require_built(
        onnx_path,
        f"the ONNX export of model {spec.name} at {size[0]}x{size[1]}",
        f"{command} (make install runs it)",
    )
    fix = f"re-export it with: {command} --force"
    record = read_record(record_path(onnx_path), fix)
    if record.sources != pinned_sources(spec) or tuple(record.input_size) != tuple(size):
        raise ModelCorrupt(
            f"ONNX file {onnx_path} was exported from other weights or another input size than "
            f"the manifest now pins for model {spec.name}; {fix}"
        )
    verify_file(onnx_path, record.onnx_sha256, f"ONNX export of model {spec.name}", fix)
    return onnx_path
