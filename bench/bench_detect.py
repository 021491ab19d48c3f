"""``make bench-detect``: detection frames/s, raw model against the whole service.

For each backend (opencv, torch, onnxruntime), all with the same thread count:
1. raw frames/s: a tight loop of ``detect_batch`` over decoded frames (resize, network, decode,
   NMS) at batch sizes 1..8, each backend in a fresh process of its own: runtimes keep thread
   pools and arenas per process, and a second model loaded beside the first ran at half speed;
2. service frames/s: the detection service as a process (``python -m vigie_detection``) on a
   fresh real broker, its frames pre-published (as replays, so none is skipped as stale), timed
   from the first to the last Detections record; at batch 1 and at the best raw batch;
3. the raw figure for that batch again, right after the service run, so the ratio compares
   measurements taken minutes apart on a shared machine with their mean, and the spread between
   the two raw runs shows how noisy the machine was;
4. the service/raw ratio (1.0: the service costs nothing beyond the model; it also decodes the
   JPEG, reads from and writes to the broker) and the service's peak RSS (VmHWM).

The onnxruntime backend needs the ONNX export: ``python -m vigie_detection.models.export
--out var/models``; without it the backend is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vigie.v1 import frames_pb2
from vigie_detection.adapters.factory import BACKENDS, DetectorConfig, build_detector
from vigie_detection.models.errors import ModelError
from vigie_runtime import codec
from vigie_runtime.broker import free_port, fresh_broker
from vigie_runtime.bus import Output
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import DETECTIONS, FRAMES

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "data" / "coco-street"
CACHE = REPO / "var" / "models"
BATCHES = (1, 2, 4, 8)
SKIPPED = 3  # exit code of a raw run whose model is not available


def load_frames(count: int) -> list[np.ndarray]:
    """Street photos scaled to a camera's 640 px width; grey noise if the data is absent."""
    paths = sorted(IMAGES.glob("*.jpg"))
    images = [cv2.imread(str(p)) for p in paths] or [
        np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    ]
    images = [cv2.resize(i, (640, round(i.shape[0] * 640 / i.shape[1]))) for i in images]
    return [images[i % len(images)] for i in range(count)]


def raw_fps(
    backend: str, frames: Sequence[np.ndarray], batch: int, seconds: float, threads: int
) -> float:
    """Frames/s of ``detect_batch`` in this process; call it in a process of its own."""
    detector = build_detector(
        DetectorConfig(backend=backend, cache_dir=CACHE, device="cpu", threads=threads)
    )
    groups = [list(frames[i : i + batch]) for i in range(0, len(frames) - batch + 1, batch)]
    detector.detect_batch(groups[0])  # warm-up
    done, step, start = 0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or done < 2 * batch:
        detector.detect_batch(groups[step % len(groups)])
        done += batch
        step += 1
    return done / elapsed


def raw_in_subprocess(
    backend: str, batches: Sequence[int], seconds: float, threads: int
) -> dict[int, float]:
    """Raw frames/s by batch, measured by ``python -m bench.bench_detect --raw`` in a fresh
    process; raises :class:`ModelError`'s message as a ``RuntimeError`` when the model is absent."""
    command = [sys.executable, "-m", "bench.bench_detect", "--raw", "--backend", backend]
    command += ["--seconds", str(seconds), "--threads", str(threads)]
    for batch in batches:
        command += ["--batch", str(batch)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode == SKIPPED:
        raise ModelError(done.stdout.strip())
    if done.returncode != 0:
        raise RuntimeError(f"raw measurement of {backend} failed:\n{done.stderr[-2000:]}")
    return {int(batch): fps for batch, fps in json.loads(done.stdout).items()}


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(process: subprocess.Popen[bytes], port: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError("service never became ready")


def service_fps(
    backend: str, jpegs: Sequence[bytes], batch: int, threads: int
) -> tuple[float, float]:
    """(frames/s, peak RSS in MB) of the service process on a broker of its own."""
    with fresh_broker() as broker:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap, single_record_batches=True)
        bus = KafkaBus(settings)
        publisher = bus.publisher("bench")
        for seq, jpeg in enumerate(jpegs):
            camera = f"cam-{seq % 6}"
            frame = frames_pb2.Frame(
                camera_id=camera, sequence=seq, width=640, height=480, jpeg=jpeg, replay=True
            )
            frame.captured_at.CopyFrom(codec.time_to_proto(time.time()))
            publisher.publish(Output(FRAMES, camera, codec.encode(frame)))
        publisher.flush(30)
        publisher.close()
        http_port = free_port()
        env = {
            **os.environ,
            "VIGIE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
            "VIGIE_KAFKA__SINGLE_RECORD_BATCHES": "true",
            "VIGIE_MODEL__BACKEND": backend,
            "VIGIE_MODEL__DEVICE": "cpu",
            "VIGIE_MODEL__THREADS": str(threads),
            "VIGIE_MODEL__CACHE_DIR": str(CACHE),
            "VIGIE_BATCHING__MAX_BATCH": str(batch),
            "VIGIE_MAX_BATCH": str(max(8, batch)),
            "VIGIE_HTTP__HOST": "127.0.0.1",
            "VIGIE_HTTP__PORT": str(http_port),
            "VIGIE_GRPC__HOST": "127.0.0.1",
            "VIGIE_GRPC__PLAINTEXT": "true",
            "VIGIE_GRPC__PORT": str(free_port()),
            "VIGIE_GROUP_ID": f"bench-{uuid.uuid4().hex[:6]}",
            "VIGIE_LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "vigie_detection"], cwd=REPO, env=env, stdout=subprocess.DEVNULL
        )
        try:
            wait_ready(process, http_port)
            reader = bus.subscriber(f"bench-reader-{uuid.uuid4().hex[:6]}", [DETECTIONS], "reader")
            stamps: list[int] = []
            deadline = time.monotonic() + 600
            while len(stamps) < len(jpegs) and time.monotonic() < deadline:
                stamps.extend(m.timestamp_ms for m in reader.poll(500, 0.5))
            reader.close()
            peak = vm_hwm_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if len(stamps) < len(jpegs):
            raise RuntimeError(f"only {len(stamps)} of {len(jpegs)} detections arrived")
        span_s = (max(stamps) - min(stamps)) / 1000
        return (len(stamps) - 1) / max(span_s, 1e-3), peak


def measure_raw_here(backend: str, batches: Sequence[int], seconds: float, threads: int) -> int:
    """The ``--raw`` mode: print ``{batch: frames/s}`` as JSON for the parent process."""
    frames = load_frames(32)
    try:
        rates = {b: raw_fps(backend, frames, b, seconds, threads) for b in batches}
    except ModelError as exc:
        print(exc)
        return SKIPPED
    print(json.dumps(rates))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_detect")
    parser.add_argument("--backend", action="append", choices=BACKENDS)
    parser.add_argument("--frames", type=int, default=120, help="frames through the service")
    parser.add_argument("--seconds", type=float, default=4.0, help="per raw measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--raw", action="store_true", help="raw figures only, in this process")
    parser.add_argument("--batch", type=int, action="append", help="with --raw")
    args = parser.parse_args(argv)
    if args.raw:
        return measure_raw_here(args.backend[0], args.batch or BATCHES, args.seconds, args.threads)
    jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in load_frames(args.frames)]
    print(f"frames of 640 px width, {os.cpu_count()} CPUs, {args.threads} threads", flush=True)
    rows = []
    for backend in args.backend or BACKENDS:
        try:
            raw = raw_in_subprocess(backend, BATCHES, args.seconds, args.threads)
        except ModelError as exc:
            print(f"{backend}: skipped: {exc}", flush=True)
            continue
        best = max(raw, key=lambda b: raw[b])
        print(f"{backend}: raw f/s by batch " + ", ".join(f"{b}: {raw[b]:.1f}" for b in raw))
        for batch in sorted({1, best}):
            fps, peak = service_fps(backend, jpegs, batch, args.threads)
            again = raw_in_subprocess(backend, [batch], args.seconds, args.threads)[batch]
            before, mean = raw[batch], (raw[batch] + again) / 2
            rows.append((backend, batch, mean, abs(again - before) / mean, fps, peak))
            print(
                f"  batch {batch}: service {fps:.1f} f/s (raw {before:.1f} before,"
                f" {again:.1f} after), peak RSS {peak:.0f} MB",
                flush=True,
            )
    print()
    print(
        f"{'backend':<12} {'batch':>5} {'raw f/s':>8} {'raw spread':>10} {'service f/s':>12}"
        f" {'ratio':>6} {'peak RSS MB':>12}"
    )
    for backend, batch, raw_rate, spread, fps, peak in rows:
        print(
            f"{backend:<12} {batch:>5} {raw_rate:>8.1f} {spread:>10.0%} {fps:>12.1f}"
            f" {fps / raw_rate:>6.2f} {peak:>12.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
