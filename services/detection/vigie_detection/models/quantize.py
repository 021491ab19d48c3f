"""Build the int8 version of the float ONNX export with onnxruntime's static quantization.

Run at build or install time, never by the service (which only locates and verifies the file):

    python -m vigie_detection.models.quantize --out var/models [--model NAME] [--size 416]
        [--clip CLIP] [--force]

Static quantization needs activation ranges, measured on calibration frames: frames spread
evenly over the sample clip (``one-by-one-person-detection.mp4``), never the street photos,
which are the set int8 is judged on (``make bench-int8``). Only the convolutions of the
backbone and necks are quantized; the YOLO heads (their last convolution and the decode that
turns it into boxes in pixels and scores in 0..1) stay float, since one 8-bit scale for both
ranges would flatten the scores. The file is skipped when an up-to-date one is there (same
float export, settings and calibration clip) and written atomically otherwise.

Needs the ``onnx`` package (onnxruntime's quantizer imports it), installed with the
``detection-torch`` extra that also makes the float export.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from vigie_detection.models.errors import ModelError, ModelNotFound, ModelUnsupported
from vigie_detection.models.export import INPUT_NAME
from vigie_detection.models.int8_cache import (
    DEFAULT_QUANTIZATION,
    Int8Record,
    QuantSettings,
    int8_file_name,
    locate_int8,
    read_int8_record,
)
from vigie_detection.models.manifest import ModelSpec
from vigie_detection.models.onnx_cache import (
    default_cache_dir,
    locate_export,
    parse_size,
    read_record,
    record_path,
    write_record,
)
from vigie_detection.models.optional import require
from vigie_detection.models.preprocess import prepare
from vigie_detection.models.registry import DEFAULT_MODEL, Registry
from vigie_runtime.checksums import sha256


def default_calibration_clip() -> Path:
    """The sample clip where ``vigie run`` finds it (``$VIGIE_SAMPLES`` or the shared data)."""
    try:
        from vigie_cli.samples import SAMPLE_CLIP, default_samples_dir
    except ImportError:
        raise ModelNotFound(
            "no calibration clip given and the vigie command's sample location is not "
            "installed; pass --clip /path/to/one-by-one-person-detection.mp4"
        ) from None
    return default_samples_dir() / SAMPLE_CLIP


def calibration_frames(clip: Path, count: int) -> list[np.ndarray]:
    """``count`` BGR frames spread evenly over ``clip``, first and last included.

    Evenly spread so the ranges cover the whole scene (empty corridor and people alike), not
    the first seconds only.
    """
    cv2 = require("cv2", "reading calibration frames")
    if not clip.is_file():
        raise ModelNotFound(f"calibration clip not found: {clip}; pass another with --clip")
    capture = cv2.VideoCapture(str(clip))
    try:
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if total <= 0 or count <= 0:
            raise ModelError(f"calibration clip {clip} has no readable frames")
        wanted = set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist())
        frames: list[np.ndarray] = []
        index = 0
        while len(frames) < len(wanted):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                frames.append(frame)
            index += 1
    finally:
        capture.release()
    if not frames:
        raise ModelError(f"calibration clip {clip} has no readable frames")
    return frames


def head_nodes(model: object) -> list[str]:
    """Nodes with no convolution after them: the YOLO heads' last convolution and decode.

    Found from the graph rather than by name so that any cfg's heads are recognised.
    """
    graph = model.graph  # type: ignore[attr-defined]
    consumers: dict[str, list[object]] = {}
    for node in graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node)
    below: dict[str, bool] = {}
    # Nodes are topologically sorted in a valid ONNX graph: walk them backwards.
    for node in reversed(graph.node):
        below[node.name] = any(
            child.op_type == "Conv" or below.get(child.name, False)  # type: ignore[attr-defined]
            for tensor in node.output
            for child in consumers.get(tensor, [])
        )
    return [node.name for node in graph.node if not below[node.name]]


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantizer logs advice on the root logger for every run; keep it out."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize(
    float_path: Path, target: Path, tensors: list[np.ndarray], settings: QuantSettings
) -> None:
    onnx = require("onnx", "int8 quantization")
    quantization = require("onnxruntime.quantization", "int8 quantization")

    class Reader(quantization.CalibrationDataReader):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self._next = iter(tensors)

        def get_next(self) -> dict[str, np.ndarray] | None:
            tensor = next(self._next, None)
            return None if tensor is None else {INPUT_NAME: tensor[np.newaxis]}

    formats = {"qdq": "QDQ", "qoperator": "QOperator"}
    methods = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
    with _quiet_quantizer():
        quantization.quantize_static(
            str(float_path),
            str(target),
            Reader(),
            quant_format=getattr(quantization.QuantFormat, formats[settings.format]),
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            nodes_to_exclude=head_nodes(onnx.load(str(float_path))),
            calibrate_method=getattr(quantization.CalibrationMethod, methods[settings.method]),
        )


def _up_to_date(
    spec: ModelSpec,
    size: tuple[int, int],
    cache_dir: Path,
    float_path: Path,
    settings: QuantSettings,
    clip_sha256: str,
) -> Path | None:
    try:
        path = locate_int8(spec.name, size, cache_dir, float_path, settings)
    except ModelError:
        return None
    record = read_int8_record(record_path(path), "rebuild it")
    return path if record.calibration.get("sha256") == clip_sha256 else None


def quantize_export(
    spec: ModelSpec,
    cache_dir: Path,
    size: tuple[int, int] | None = None,
    *,
    clip: Path | None = None,
    settings: QuantSettings = DEFAULT_QUANTIZATION,
    force: bool = False,
) -> Path:
    """The int8 file of ``spec``'s float export at ``size`` in ``cache_dir``, built if needed.

    Rebuilt when the float export, the settings or the calibration clip changed, or the file
    was damaged; raises ExportMissing (with the export command) when there is no float export.
    """
    if not spec.has_darknet_files:
        raise ModelUnsupported(
            f"model {spec.name} is an ONNX file of its own; int8 is built from Vigie's export "
            f"of Darknet models only: quantize the file yourself and declare the result"
        )
    dims = spec.input.size if size is None else size
    float_path = locate_export(spec, dims, cache_dir)
    clip = clip or default_calibration_clip()
    if not clip.is_file():
        raise ModelNotFound(f"calibration clip not found: {clip}; pass another with --clip")
    clip_sha256 = sha256(clip)
    if not force:
        current = _up_to_date(spec, dims, cache_dir, float_path, settings, clip_sha256)
        if current is not None:
            return current
    ort = require("onnxruntime", "int8 quantization")
    frames = calibration_frames(clip, settings.calibration_frames)
    tensors = [prepare(frame, spec.input, dims)[0] for frame in frames]
    target = cache_dir / int8_file_name(spec.name, dims)
    handle, temporary = tempfile.mkstemp(suffix=".onnx", dir=cache_dir)
    os.close(handle)
    try:
        _quantize(float_path, Path(temporary), tensors, settings)
        os.chmod(temporary, 0o644)  # a build product others read, not a private temporary
        record_path(target).unlink(missing_ok=True)  # never an old record beside a new file
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    # The float export's sha256 as its record vouches for it (locate_export verified both).
    float_sha256 = read_record(record_path(float_path), "re-export it").onnx_sha256
    record = Int8Record(
        model=spec.name,
        input_size=dims,
        onnx_sha256=sha256(target),
        float_sha256=float_sha256,
        settings=settings.key(),
        calibration={"clip": clip.name, "sha256": clip_sha256, "frames": len(frames)},
        quantizer=f"onnxruntime {ort.__version__}",
    )
    write_record(record_path(target), record.to_json())
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vigie_detection.models.quantize",
        description="Quantize the float ONNX export to int8 for precision: int8.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="cache directory (default: $VIGIE_MODEL_CACHE "
        "or var/models); the float export must be there",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name in the registry")
    parser.add_argument(
        "--size", type=parse_size, default=None, help="N or WxH (default: manifest's)"
    )
    parser.add_argument("--manifest", type=Path, action="append", default=[])
    parser.add_argument(
        "--clip", type=Path, default=None, help="calibration clip (default: the sample clip)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    try:
        spec = Registry(args.manifest).spec(args.model)
        path = quantize_export(
            spec, args.out or default_cache_dir(), args.size, clip=args.clip, force=args.force
        )
    except (ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
