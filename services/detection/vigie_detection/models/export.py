"""Export Vigie's torch Darknet model to the ONNX file onnxruntime serves.

Run at build or install time, never by the service:

    python -m vigie_detection.models.export --out var/models [--model NAME] [--size 416 ...]

An export is skipped when an up-to-date one is already there (same pinned weights, intact
file), so the command is cheap to run on every install. Each export is checked before it is
kept: onnxruntime must reproduce the torch model's output on the same input.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from vigie_detection.models.errors import ModelCorrupt, ModelError, ModelUnsupported
from vigie_detection.models.onnx_cache import (
    SOURCE_ROLES,
    ExportRecord,
    default_cache_dir,
    locate_export,
    onnx_file_name,
    parse_size,
    pinned_sources,
    record_path,
    write_record,
)
from vigie_detection.models.optional import require
from vigie_detection.models.registry import DEFAULT_MODEL, Registry, ResolvedModel, verify_file
from vigie_runtime.checksums import sha256

OPSET = 17
# Largest difference tolerated between torch and onnxruntime on the check input: far above
# float32 reordering noise (about 1e-6 here), far below anything that changes a detection.
MAX_EXPORT_ERROR = 1e-3
INPUT_NAME = "images"


def _check_export(model: object, path: Path, size: tuple[int, int]) -> None:
    """onnxruntime must give what torch gives, at batch 2, or the export is refused."""
    ort = require("onnxruntime", "checking an ONNX export")
    torch = require("torch", "exporting to ONNX")

    rng = np.random.default_rng(0)
    batch = rng.random((2, 3, size[1], size[0]), dtype=np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch))  # type: ignore[operator]
    expected_list = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {INPUT_NAME: batch})
    for want, got in zip(expected_list, actual, strict=True):
        error = float(np.abs(want.numpy() - got).max())
        if error > MAX_EXPORT_ERROR:
            raise ModelCorrupt(
                f"the ONNX export {path} differs from the torch model by {error:.2e} "
                f"(more than {MAX_EXPORT_ERROR}); it was not kept"
            )


def export_onnx(
    resolved: ResolvedModel,
    out_dir: Path,
    size: int | tuple[int, int] | None = None,
    *,
    outputs: Literal["rows", "raw"] = "rows",
    force: bool = False,
) -> Path:
    """Export ``resolved`` (a Darknet cfg/weights model) at ``size`` into ``out_dir``.

    ``outputs="rows"`` (what the service uses) puts the YOLO decode in the graph; ``"raw"``
    leaves one head map per YOLO layer, the layout of many third-party Darknet exports.
    Returns the ONNX path; its JSON record is written beside it.
    """
    spec = resolved.spec
    if not spec.has_darknet_files:
        raise ModelUnsupported(
            f"model {spec.name} has no Darknet cfg/weights to export; it is served as it is"
        )
    dims = spec.input.size if size is None else (size, size) if isinstance(size, int) else size
    if any(d <= 0 or d % 32 for d in dims):
        raise ValueError(f"input size must be positive multiples of 32, got {dims}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / onnx_file_name(spec.name, dims, outputs)
    if not force and outputs == "rows":
        try:
            return locate_export(spec, dims, out_dir)
        except ModelError:
            pass  # missing, stale or damaged: export again
    # The record vouches for the sources' checksums: check them, whoever resolved the model.
    for role in SOURCE_ROLES:
        entry = spec.files[role]
        verify_file(
            resolved.path(role),
            entry.sha256,
            f"{role} of model {spec.name}",
            f"check the file against {resolved.manifest}",
        )
    torch = require("torch", "exporting to ONNX")
    from vigie_detection.models.darknet_torch import load_darknet

    model = load_darknet(resolved.path("cfg"), resolved.path("weights"), decode=outputs == "rows")
    example = torch.zeros(1, 3, dims[1], dims[0])
    names = ["rows"] if outputs == "rows" else [f"head{i}" for i in range(len(model.yolo_indices))]
    handle, temporary = tempfile.mkstemp(suffix=".onnx", dir=out_dir)
    os.close(handle)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter (dynamo=False) is built into torch; the newer one needs
            # the onnxscript package. The input size is fixed per export on purpose, which is
            # what the tracer's warnings are about.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                temporary,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=names,
                dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *names]},
                opset_version=OPSET,
            )
        _check_export(model, Path(temporary), dims)
        os.chmod(temporary, 0o644)  # a build product others read, not a private temporary
        record_path(target).unlink(missing_ok=True)  # never an old record beside a new file
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    record = ExportRecord(
        model=spec.name,
        input_size=dims,
        outputs=outputs,
        onnx_sha256=sha256(target),
        sources=pinned_sources(spec),
        exporter=f"torch {torch.__version__}",
    )
    write_record(record_path(target), record.to_json())
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vigie_detection.models.export",
        description="Export a Darknet model of the registry to ONNX for the onnxruntime backend.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="cache directory (default: $VIGIE_MODEL_CACHE or var/models)",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name in the registry")
    parser.add_argument(
        "--size",
        type=parse_size,
        action="append",
        help="input size, N or WxH; repeatable (default: the manifest's)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        action="append",
        default=[],
        help="extra model manifest (repeatable)",
    )
    parser.add_argument("--force", action="store_true", help="export even if up to date")
    args = parser.parse_args(argv)
    out_dir = args.out or default_cache_dir()
    try:
        registry = Registry(args.manifest)
        resolved = registry.resolve(args.model)
        for size in args.size or [None]:
            path = export_onnx(resolved, out_dir, size, force=args.force)
            print(path)
    except (ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
