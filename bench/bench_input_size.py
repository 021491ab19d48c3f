"""``make bench-input-size``: what a 608 px model input buys over 416 on small vehicles, and
what it costs.

The junction clip (``events/stopped-vehicle/stopped-vehicle-1.mp4``, 960x540, 252 frames: a busy
junction seen from above, a red car of about 53x28 px standing still at the top right for the
whole clip) goes frame by frame through the same model and backend at both input sizes. The two
sizes are interleaved frame by frame (416 then 608 on frame 0, 608 then 416 on frame 1, ...) so
that both see the same load on a shared machine, and so that neither always runs right after
the other; what is compared is the ratio 608 / 416 of the same run.

Per size: vehicles found per frame, of which how many are narrower than 64 px (the small,
distant ones the larger input is for); on how many frames the still red car is found, and on how
many it scores at least the tracker's birth confidence (below it, no track starts, so no
stopped-vehicle event can be raised: the reason the junction scene runs at 608); and the
detection time per frame (median and 90th percentile of ``detect``: resize, network, decode,
NMS; JPEG decoding is done before timing).

The onnxruntime backend (the default) needs an export per size; ``make bench-input-size`` runs
``python -m vigie_detection.models.export --out var/models --size 416 --size 608`` first
(skipped when up to date). The opencv backend reads the Darknet weights at any size.

    .venv/bin/python -m bench.bench_input_size [--backend onnxruntime] [--threads 1]
                                               [--sizes 416,608] [--frames 252]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vigie_core.tracking import TrackerParams
from vigie_core.types import Box, Detection
from vigie_detection.adapters.factory import BACKENDS, DetectorConfig, build_detector
from vigie_detection.models.errors import ModelError

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "events" / "stopped-vehicle" / "stopped-vehicle-1.mp4"
CACHE = REPO / "var" / "models"
# Motorised road vehicles in COCO's names; bicycles are left out (riders hide them, and they are
# not what a stopped-vehicle rule watches).
VEHICLES = frozenset({"car", "bus", "truck", "motorbike"})
SMALL_PX = 64  # narrower than this on the 960 px frame: a distant vehicle
# The still red car, by eye on the clip (x, y, w, h in pixels of the 960x540 frame); a car box
# overlapping it by IoU >= 0.3 is that car.
RED_CAR_PX = (900, 86, 53, 28)
RED_CAR_MIN_IOU = 0.3
CONFIDENCE = 0.4  # the detection service's default threshold


@dataclass
class SizeFigures:
    """What one input size gave over the clip."""

    size: int
    vehicles: list[int] = field(default_factory=list)
    small: list[int] = field(default_factory=list)
    car_found: int = 0
    car_born: int = 0
    times_ms: list[float] = field(default_factory=list)

    def add(self, found: Sequence[Detection], elapsed_ms: float, frame_width: int) -> None:
        vehicles = [d for d in found if d.class_name in VEHICLES]
        self.vehicles.append(len(vehicles))
        self.small.append(sum(d.box.width * frame_width < SMALL_PX for d in vehicles))
        car = max(
            (d.confidence for d in vehicles if d.class_name == "car" and is_red_car(d.box)),
            default=None,
        )
        if car is not None:
            self.car_found += 1
            self.car_born += car >= TrackerParams().birth_confidence
        self.times_ms.append(elapsed_ms)


def red_car_box(width: int, height: int) -> Box:
    x, y, w, h = RED_CAR_PX
    return Box(x / width, y / height, (x + w) / width, (y + h) / height)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def is_red_car(box: Box) -> bool:
    return iou(box, red_car_box(960, 540)) >= RED_CAR_MIN_IOU


def load_clip(path: Path, limit: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while len(frames) < limit:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def measure(
    frames: Sequence[np.ndarray], sizes: Sequence[int], backend: str, threads: int
) -> list[SizeFigures]:
    """Every frame through a detector per size, the order of the sizes alternating per frame."""
    detectors = [
        build_detector(
            DetectorConfig(
                backend=backend,  # type: ignore[arg-type]
                input_size=size,
                confidence=CONFIDENCE,
                classes=VEHICLES,
                threads=threads,
                device="cpu",
                cache_dir=CACHE,
            )
        )
        for size in sizes
    ]
    figures = [SizeFigures(size) for size in sizes]
    for detector in detectors:
        detector.detect(frames[0])  # warm-up, untimed
    for k, frame in enumerate(frames):
        order = range(len(sizes)) if k % 2 == 0 else reversed(range(len(sizes)))
        for i in order:
            start = time.perf_counter()
            found = detectors[i].detect(frame)
            figures[i].add(found, (time.perf_counter() - start) * 1000, frame.shape[1])
    return figures


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def table(figures: Sequence[SizeFigures], frames: int) -> list[str]:
    """A markdown table: one column per size, then the ratio of the last size to the first."""

    def row(name: str, cells: Sequence[str], ratio: str = "") -> str:
        return f"| {name} | " + " | ".join(cells) + f" | {ratio} |"

    def ratio(values: Sequence[float]) -> str:
        return f"{values[-1] / values[0]:.2f}" if values[0] else "-"

    vehicles = [statistics.fmean(f.vehicles) for f in figures]
    small = [statistics.fmean(f.small) for f in figures]
    medians = [statistics.median(f.times_ms) for f in figures]
    p90s = [percentile(f.times_ms, 90) for f in figures]
    birth = TrackerParams().birth_confidence
    return [
        row("figure", [str(f.size) for f in figures], f"{figures[-1].size} / {figures[0].size}"),
        "|---|" + "---|" * len(figures) + "---|",
        row("vehicles per frame (car, bus, truck, motorbike)", fmt1(vehicles), ratio(vehicles)),
        row(f"of which narrower than {SMALL_PX} px", fmt1(small), ratio(small)),
        row("frames the still red car is found on", [f"{f.car_found} / {frames}" for f in figures]),
        row(
            f"frames it scores at least the birth confidence ({birth:g}) on",
            [f"{f.car_born} / {frames}" for f in figures],
        ),
        row("detection ms per frame, median", [f"{m:.0f}" for m in medians], ratio(medians)),
        row("detection ms per frame, p90", [f"{p:.0f}" for p in p90s], ratio(p90s)),
    ]


def fmt1(values: Sequence[float]) -> list[str]:
    return [f"{v:.1f}" for v in values]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_input_size")
    parser.add_argument("--backend", choices=BACKENDS, default="onnxruntime")
    parser.add_argument("--threads", type=int, default=1, help="threads of each detector")
    parser.add_argument("--sizes", default="416,608", help="input sizes, the baseline first")
    parser.add_argument("--frames", type=int, default=252, help="frames of the clip to use")
    parser.add_argument("--clip", type=Path, default=CLIP)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if len(sizes) < 2:
        parser.error("--sizes needs at least two sizes, the baseline first")
    if not args.clip.exists():
        print(f"clip not found: {args.clip} (the shared test data)", file=sys.stderr)
        return 2
    frames = load_clip(args.clip, args.frames)
    if not frames or frames[0].shape[:2] != (540, 960):
        print(f"{args.clip} is not the 960x540 junction clip", file=sys.stderr)
        return 2
    print(
        f"{args.clip.name}: {len(frames)} frames, backend {args.backend}, "
        f"{args.threads} thread(s) per detector, confidence {CONFIDENCE}, sizes interleaved"
    )
    try:
        figures = measure(frames, sizes, args.backend, args.threads)
    except ModelError as exc:
        print(exc, file=sys.stderr)
        return 3
    print("\n".join(table(figures, len(frames))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
