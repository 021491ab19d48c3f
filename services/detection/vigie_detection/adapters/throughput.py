"""Frames per second of each backend, at chosen batch sizes, on frames from a video.

    python -m vigie_detection.adapters.throughput --video CLIP.mp4 [--backend opencv ...]
        [--batch 1 --batch 4] [--threads 2] [--seconds 10] [--cache var/models]

Two figures per row: ``network`` times only the backend's forward pass on prepared tensors,
``detect`` the whole ``detect_batch`` (resize, colour, network, decode, NMS). Threads are fixed
(OpenCV, PyTorch and onnxruntime intra-op) so figures compare runtimes, not thread counts.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from vigie_detection.adapters.factory import BACKENDS, DetectorConfig, build_detector
from vigie_detection.models.errors import ModelError
from vigie_detection.models.preprocess import prepare_batch


def read_frames(video: Path, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"no frames could be read from {video}")
    return frames


def rate(run: Callable[[int], int], seconds: float, windows: int = 5) -> float:
    """Frames per second of ``run(step) -> frames done``: the best of several windows after a
    warm-up call, since other work on the machine only ever slows a window down."""
    run(0)
    best, step = 0.0, 0
    for _ in range(windows):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / windows or done < 3:
            done += run(step)
            step += 1
        best = max(best, done / elapsed)
    return best


def measure(
    config: DetectorConfig, frames: Sequence[np.ndarray], batch: int, seconds: float
) -> tuple[float, float]:
    detector = build_detector(config)
    groups = [list(frames[i : i + batch]) for i in range(0, len(frames) - batch + 1, batch)]
    tensors = [
        prepare_batch(group, detector.input_spec, detector.input_size)[0] for group in groups
    ]

    def network(step: int) -> int:
        detector.network.forward(tensors[step % len(tensors)])
        return batch

    def detect(step: int) -> int:
        detector.detect_batch(groups[step % len(groups)])
        return batch

    return rate(network, seconds), rate(detect, seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vigie_detection.adapters.throughput")
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--backend", action="append", choices=BACKENDS)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    frames = read_frames(args.video, 32)
    height, width = frames[0].shape[:2]
    print(f"{len(frames)} frames of {width}x{height}, input {args.size}, {args.threads} threads")
    print(f"{'backend':<12} {'batch':>5} {'network f/s':>12} {'detect f/s':>11}")
    for backend in args.backend or BACKENDS:
        config = DetectorConfig(
            backend=backend,
            input_size=args.size,
            threads=args.threads,
            cache_dir=args.cache,
            device="cpu",
        )
        for batch in args.batch or [1, 4]:
            try:
                network, detect = measure(config, frames, batch, args.seconds)
            except ModelError as exc:
                print(f"{backend:<12} {batch:>5} skipped: {exc}")
                continue
            print(f"{backend:<12} {batch:>5} {network:>12.1f} {detect:>11.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
