"""``make bench-int8``: the int8 model against the float32 one, and onnxruntime's session options.

1. int8 against float32, default model and backend (onnxruntime) at the service's input size,
   on the street photos of the shared data (COCO val2017; never used for calibration, which
   reads the sample clip): ms/image of ``detect`` (resize, network, decode, NMS), both
   detectors in this process, alternated by rounds (float then int8, then int8 then float) so
   machine noise hits both alike; the speed ratio per round shows how noisy the run was.
   Agreement, with float32 as the reference (there is no ground truth offline): the fraction
   of float boxes matched one-to-one by an int8 box of the same class at IoU >= 0.5, the
   reverse fraction, and the counts; all classes, then people alone.
2. onnxruntime session options on the float export: graph optimisation level, intra-op
   threads, execution mode, each changed alone from the adapter's defaults, network time only
   (the same prepared tensors), the option sets rotated by rounds; ratio to the defaults.

The int8 file is built first if missing or stale (``python -m vigie_detection.models.quantize``,
calibrated on the sample clip); the float export must be there (``make install``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from vigie_detection.adapters.factory import DetectorConfig, build_detector
from vigie_detection.adapters.onnx_runtime import OnnxRuntimeNetwork, SessionTuning, rows_as_given
from vigie_detection.models.agreement import MIN_IOU, Agreement, total_agreement
from vigie_detection.models.errors import ModelError
from vigie_detection.models.onnx_cache import locate_export
from vigie_detection.models.preprocess import prepare_batch
from vigie_detection.models.quantize import quantize_export
from vigie_detection.models.registry import DEFAULT_MODEL, Registry

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "data" / "coco-street"
CACHE = REPO / "var" / "models"

# (label, tuning): the adapter's defaults first, then one option changed at a time.
OPTION_SETS: tuple[tuple[str, SessionTuning], ...] = (
    ("defaults (all, 1 intra-op thread, sequential)", SessionTuning()),
    ("optimisation basic", SessionTuning(optimization="basic")),
    ("optimisation extended", SessionTuning(optimization="extended")),
    ("intra-op threads 2", SessionTuning(threads=2)),
    ("intra-op threads: onnxruntime's default", SessionTuning(threads=None)),
    ("execution parallel", SessionTuning(execution="parallel")),
)


def load_photos(folder: Path) -> list[np.ndarray]:
    paths = sorted(folder.glob("*.jpg"))
    images = [cv2.imread(str(p)) for p in paths]
    return [image for image in images if image is not None]


def time_block(run: Callable[[object], object], items: Sequence[object]) -> float:
    """ms per item over one pass, after one warm-up call (pools and arenas of this session)."""
    run(items[0])
    start = time.perf_counter()
    for item in items:
        run(item)
    return (time.perf_counter() - start) * 1000 / len(items)


def alternated(runs: dict[str, Callable[[object], object]], items: Sequence[object], rounds: int):
    """ms/item per round for each run, the order rotated every round."""
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        order = names[shift:] + names[:shift]
        if r % 2:
            order.reverse()
        for name in order:
            times[name].append(time_block(runs[name], items))
    return times


def format_agreement(label: str, a: Agreement) -> str:
    return (
        f"  {label:<12} float boxes {a.reference:>4}, int8 boxes {a.candidate:>4}, matched "
        f"{a.matched:>4}: {a.reference_found:.1%} of float boxes found by int8, "
        f"{a.candidate_confirmed:.1%} of int8 boxes found by float"
    )


def compare_precisions(photos: list[np.ndarray], rounds: int, threads: int | None) -> None:
    detectors = {
        precision: build_detector(
            DetectorConfig(cache_dir=CACHE, device="cpu", threads=threads, precision=precision)
        )
        for precision in ("float32", "int8")
    }
    found = {name: [d.detect(p) for p in photos] for name, d in detectors.items()}
    pairs = list(zip(found["float32"], found["int8"], strict=True))
    print(f"agreement, float32 as reference (same class, IoU >= {MIN_IOU}, one-to-one):")
    print(format_agreement("all classes", total_agreement(pairs)))
    print(format_agreement("person", total_agreement(pairs, class_name="person")))
    times = alternated({n: d.detect for n, d in detectors.items()}, photos, rounds)
    ratios = [f / i for f, i in zip(times["float32"], times["int8"], strict=True)]
    fp, ip = statistics.median(times["float32"]), statistics.median(times["int8"])
    print(f"speed, detect() per image, median of {rounds} alternated rounds:")
    print(f"  float32 {fp:.1f} ms/image, int8 {ip:.1f} ms/image: int8 is {fp / ip:.2f}x as fast")
    print("  float/int8 per round: " + ", ".join(f"{r:.2f}" for r in ratios))


def compare_options(photos: list[np.ndarray], rounds: int) -> None:
    registry = Registry()
    spec = registry.spec(DEFAULT_MODEL)
    size = spec.input.size
    path = locate_export(spec, size, CACHE)
    tensors = [prepare_batch([p], spec.input, size)[0] for p in photos]
    networks = {
        label: OnnxRuntimeNetwork(path, rows_as_given, size, "cpu", tuning=tuning)
        for label, tuning in OPTION_SETS
    }
    times = alternated({k: n.forward for k, n in networks.items()}, tensors, rounds)
    default = statistics.median(times[OPTION_SETS[0][0]])
    print(f"onnxruntime options, float32 network only at {size[0]}x{size[1]}, median of {rounds}:")
    print(f"  {'option set':<50} {'ms/image':>9} {'/ default':>9}  per round")
    for label, _ in OPTION_SETS:
        ms = statistics.median(times[label])
        rounds_text = " ".join(f"{t:.0f}" for t in times[label])
        print(f"  {label:<50} {ms:>9.1f} {ms / default:>9.2f}  {rounds_text}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_int8")
    parser.add_argument("--images", type=Path, default=IMAGES, help="folder of *.jpg photos")
    parser.add_argument("--rounds", type=int, default=4, help="alternated timing rounds")
    parser.add_argument(
        "--threads", type=int, default=None, help="intra-op threads (default: the adapter's)"
    )
    parser.add_argument("--no-options", action="store_true", help="skip the options table")
    parser.add_argument("--no-int8", action="store_true", help="the options table only")
    args = parser.parse_args(argv)
    photos = load_photos(args.images)
    if not photos:
        print(f"no photos in {args.images} (the shared test data is absent)", file=sys.stderr)
        return 1
    try:
        int8 = quantize_export(Registry().spec(DEFAULT_MODEL), CACHE)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{len(photos)} photos from {args.images}, {os.cpu_count()} CPUs, "
        f"intra-op threads {args.threads or 'the adapter default'}; int8 model {int8}",
        flush=True,
    )
    if not args.no_int8:
        compare_precisions(photos, args.rounds, args.threads)
        print()
    if not args.no_options:
        compare_options(photos, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
