"""``make bench-track``: tracker updates per second for one camera, on one core.

A synthetic scene per size (10, 50 and 200 objects per frame): boxes of pedestrian proportions
walking at up to one box height per second, their speed wandering around its own mean, bouncing
off the frame edges, seen
at 10 fps through a noisy detector (box jitter, 5 % of objects missed on each frame, mostly
confident scores with a tail of weak ones). Frames are built before timing; what is timed is
``CameraTracker.update`` over every frame, i.e. the whole per-frame cost the tracking service
pays for a camera (prediction, the association rounds, Kalman correction, track lifecycle and
the output tracks).

Beside it, in the same run and on the same frames, the cost of the association step alone: one
IoU matrix and one Hungarian assignment between the previous frame's boxes and this frame's,
the irreducible core of any IoU tracker. The ratio tracker / association shows how much the
rest costs on top.

One core: the BLAS and OpenMP thread pools are limited to one thread before numpy is imported
(numpy reads these variables once, at import), and the process is pinned to a single CPU where
the platform allows it, so the figures are per camera on one core whatever the machine. Times
are the CPU time of this process (``time.process_time``), so time spent waiting for the CPU
does not count; other work on the machine still slows the run down (shared caches, a busy
sibling hyperthread), so each size is run several times and both the best run (the least
disturbed, the usual estimate for a benchmark) and the median are printed.

    .venv/bin/python -m bench.bench_track [--sizes 10,50,200] [--frames 300] [--repeat 7]
                                          [--params KEY=VALUE ...]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from bench.eval_mot import parse_params  # noqa: E402
from vigie_core.tracking import CameraTracker, TrackerParams  # noqa: E402
from vigie_core.tracking.association import boxes_to_array, iou_matrix  # noqa: E402
from vigie_core.types import Box, Detection, FrameDetections, FrameRef  # noqa: E402

FPS = 10.0
MISS_RATE = 0.05
TARGET_AT_50 = 2_000.0  # updates per second the tracker must sustain at 50 objects


@dataclass(slots=True)
class _Object:
    x: float
    y: float
    vx: float  # current speed, normalised units per second
    vy: float
    mean_vx: float  # the speed it wanders around
    mean_vy: float
    w: float
    h: float


def pin_to_one_cpu() -> str:
    """Pins this process to the first CPU it may run on; says what was done."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def scene(n_objects: int, n_frames: int, seed: int = 0) -> list[FrameDetections]:
    """``n_frames`` frames at ``FPS`` of ``n_objects`` moving boxes seen by a noisy detector."""
    rng = random.Random(seed)
    # Smaller boxes in crowded scenes, so 200 objects still fit a frame as a crowd does.
    size = 0.06 if n_objects <= 10 else 0.035 if n_objects <= 50 else 0.02
    objects = []
    for _ in range(n_objects):
        h = 2 * size * rng.uniform(0.8, 1.2)
        vx, vy = h * rng.uniform(-1.0, 1.0), h * rng.uniform(-0.3, 0.3)
        objects.append(
            _Object(rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), vx, vy, vx, vy, h / 2, h)
        )
    dt = 1.0 / FPS
    frames = []
    for i in range(n_frames):
        detections = []
        for ob in objects:
            _move(ob, dt, rng)
            if rng.random() < MISS_RATE:
                continue
            jitter = 0.05 * ob.h
            cx, cy = ob.x + rng.gauss(0, jitter), ob.y + rng.gauss(0, jitter)
            w, h = ob.w * rng.uniform(0.95, 1.05), ob.h * rng.uniform(0.95, 1.05)
            x1, y1 = max(0.0, cx - w / 2), max(0.0, cy - h / 2)
            box = Box(x1, y1, min(1.0, cx + w / 2), min(1.0, cy + h / 2))
            confidence = rng.uniform(0.9, 1.0) if rng.random() < 0.8 else rng.uniform(0.5, 0.9)
            detections.append(Detection(box, "person", confidence))
        rng.shuffle(detections)
        ref = FrameRef("bench", i, 1_700_000_000.0 + i * dt)
        frames.append(FrameDetections(ref, tuple(detections)))
    return frames


def _move(ob: _Object, dt: float, rng: random.Random) -> None:
    """Speed pulled back towards its mean with random pushes (a walker's sway); bounces off
    the frame edges."""
    ob.vx += 0.1 * (ob.mean_vx - ob.vx) + rng.gauss(0, 0.1 * ob.h)
    ob.vy += 0.1 * (ob.mean_vy - ob.vy) + rng.gauss(0, 0.05 * ob.h)
    ob.x += ob.vx * dt
    ob.y += ob.vy * dt
    if not ob.w / 2 <= ob.x <= 1 - ob.w / 2:
        ob.vx, ob.mean_vx = -ob.vx, -ob.mean_vx
        ob.x = min(max(ob.x, ob.w / 2), 1 - ob.w / 2)
    if not ob.h / 2 <= ob.y <= 1 - ob.h / 2:
        ob.vy, ob.mean_vy = -ob.vy, -ob.mean_vy
        ob.y = min(max(ob.y, ob.h / 2), 1 - ob.h / 2)


def time_tracker(frames: Sequence[FrameDetections], params: TrackerParams) -> tuple[float, int]:
    """Seconds to run a fresh tracker over ``frames``, and the tracks it published last."""
    tracker = CameraTracker("bench", params)
    update = tracker.update
    started = time.process_time()
    for f in frames:
        out = update(f)
    elapsed = time.process_time() - started
    return elapsed, len(out.tracks)


def time_association(frames: Sequence[FrameDetections]) -> float:
    """Seconds for one IoU matrix and one Hungarian assignment per frame, previous frame's
    boxes against this frame's (boxes converted to arrays beforehand, untimed)."""
    arrays = [boxes_to_array([d.box for d in f.detections]) for f in frames]
    started = time.process_time()
    for previous, current in itertools.pairwise(arrays):
        iou = iou_matrix(previous, current)
        linear_sum_assignment(iou, maximize=True)
    return time.process_time() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_track", description=__doc__)
    parser.add_argument("--sizes", default="10,50,200", help="objects per frame, comma-separated")
    parser.add_argument("--frames", type=int, default=300, help="frames per run (at 10 fps)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per size")
    parser.add_argument(
        "--params",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="TrackerParams fields (default: the defaults, which the services ship), e.g. to "
        "compare two versions of the tracker at the same thresholds",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        params = parse_params(args.params)
    except ValueError as exc:
        parser.error(str(exc))
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    print(f"one core: BLAS/OpenMP threads = 1, {pin_to_one_cpu()}")
    print(
        f"scene: {args.frames} frames at {FPS:g} fps, {MISS_RATE:.0%} misses, box jitter; "
        f"CPU time, best and median of {args.repeat} runs"
    )
    print(f"tracker: {params}{' (defaults)' if params == TrackerParams() else ''}")
    print()
    print(
        f"{'objects':>7s} {'tracks':>6s} | {'tracker updates/s':>17s} {'us/update':>9s} | "
        f"{'association only':>16s} {'us':>5s} | {'ratio':>5s}"
    )
    sub = f"{'best':>8s} {'median':>8s} {'best':>9s} | {'best /s':>16s} {'':5s} |"
    print(f"{'':7s} {'':6s} | {sub}")
    best_at_50 = None
    for n in sizes:
        frames = scene(n, args.frames, seed=n)
        runs = [time_tracker(frames, params) for _ in range(args.repeat)]
        tracker_best = min(s for s, _ in runs) / len(frames)
        tracker_median = statistics.median(s for s, _ in runs) / len(frames)
        assoc_best = min(time_association(frames) for _ in range(args.repeat)) / (len(frames) - 1)
        if n == 50:
            best_at_50 = 1.0 / tracker_best
        print(
            f"{n:7d} {runs[0][1]:6d} | {1.0 / tracker_best:8,.0f} {1.0 / tracker_median:8,.0f} "
            f"{1e6 * tracker_best:9.0f} | {1.0 / assoc_best:16,.0f} {1e6 * assoc_best:5.0f} | "
            f"{tracker_best / assoc_best:5.1f}"
        )
    if best_at_50 is not None:
        verdict = "met" if best_at_50 >= TARGET_AT_50 else "NOT met"
        print(f"\ntarget >= {TARGET_AT_50:,.0f} updates/s at 50 objects (best run): {verdict}")
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
