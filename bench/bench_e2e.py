"""``make bench-e2e``: frame-to-alert latency and pipeline throughput, against the raw detector.

Three measurements in one run, so the machine's noise affects all of them alike:
1. raw detector frames/s: a tight loop of the yolov4-tiny model over decoded frames;
2. pipeline frames/s: the six services as processes on the real broker, the clip replayed as
   fast as possible, counted from the first frame published to the last track published;
   printed as a ratio over (1) — detection is the bottleneck, so 1.0 means no overhead;
3. latency: the clip paced in real time through a scene whose grid of zones and zero cooldown
   makes every zone entry an alert; frame-to-alert = alert record time - frame capture time.
   Frame-to-tracks latency (every frame) is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vigie_cli.output import Progress
from vigie_cli.pipeline import LocalPipeline, PipelinePlan
from vigie_cli.samples import SAMPLE_CAMERA, default_samples_dir, example_scenes
from vigie_runtime import codec
from vigie_runtime.admin import admin_client, ensure_topics
from vigie_runtime.broker import free_port, start_broker
from vigie_runtime.bus import Message
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import ALERTS, FRAMES, TRACKS

CLIP = default_samples_dir() / "intel-sample-videos" / "one-by-one-person-detection.mp4"


def raw_detector_fps(frames: int) -> float:
    from vigie_capture.adapters.video_file import VideoOptions, open_video
    from vigie_detection.adapters import DetectorConfig, build_detector
    from vigie_detection.settings import ModelSettings

    # The service's default model, backend and thresholds.
    model = ModelSettings()
    detector = build_detector(
        DetectorConfig(
            model=model.name,
            backend=model.backend,
            input_size=model.input_size,
            confidence=model.confidence,
            nms=model.nms,
            classes=frozenset(model.classes),
        )
    )
    with open_video(str(CLIP), VideoOptions(max_frames=frames)) as video:
        images = [raw.image for raw in video]
    started = time.perf_counter()
    for image in images:
        detector.detect(image)
    return len(images) / (time.perf_counter() - started)


def grid_scene(path: Path, cells: int = 4) -> Path:
    lines = ["cameras:", f"  {SAMPLE_CAMERA}:", "    zones:"]
    step = 1.0 / cells
    for row in range(cells):
        for col in range(cells):
            x0, y0 = col * step, row * step
            x1, y1 = x0 + step, y0 + step
            lines += [
                f"      - name: cell-{row}-{col}",
                f"        polygon: [[{x0}, {y0}], [{x1}, {y0}], [{x1}, {y1}], [{x0}, {y1}]]",
                "        classes: [person]",
            ]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_topic(bootstrap: str, topic: str) -> list[Message]:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    return KafkaBus(settings).read_all(topic, timeout_s=120)


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"n={len(values)} (too few samples)"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:7.1f} ms   p95 {q[94]:7.1f} ms   p99 {q[98]:7.1f} ms   (n={len(values)})"


def run_pipeline(
    work: Path, scenes: Path, fast: bool, max_frames: int | None
) -> dict[str, list[Message]]:
    broker = start_broker(free_port())
    try:
        ensure_topics(admin_client(broker.bootstrap))
        names = ("capture", "detection", "tracking", "analytics", "alerting", "storage")
        plan = PipelinePlan(
            bootstrap=broker.bootstrap,
            work_dir=work,
            scenes=scenes,
            http_ports={n: free_port() for n in names},
            grpc_ports={n: free_port() for n in ("detection", "alerting", "storage")},
            session_timeout_ms=2000,
            log_level="WARNING",
            # Every zone entry an alert: no merging (cooldown 0), intrusions allowed everywhere.
            extra_env={
                "VIGIE_POLICY": json.dumps(
                    {
                        "version": "bench",
                        "cooldown_s": 0,
                        "default": {"zone_intrusion": {"severity": "high"}},
                        "escalation": {"after_s": {}},
                    }
                )
            },
        )
        pipeline = LocalPipeline(plan)
        try:
            pipeline.start_consumers()
            pipeline.wait_ready()
            pipeline.start_capture(str(CLIP), SAMPLE_CAMERA, fast=fast, max_frames=max_frames)
            progress = Progress(prefix="bench-e2e: ")  # what is in flight, on stderr
            if not pipeline.wait_drained(timeout_s=1800, progress=progress):
                raise RuntimeError("pipeline did not drain")
        finally:
            pipeline.stop_all()
        return {t: read_topic(broker.bootstrap, t) for t in (FRAMES, TRACKS, ALERTS)}
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw-frames", type=int, default=200)
    parser.add_argument("--throughput-frames", type=int, default=400)
    parser.add_argument("--latency-frames", type=int, default=None, help="default: whole clip")
    args = parser.parse_args(argv)
    if not CLIP.exists():
        print(f"sample clip not found at {CLIP}; set VIGIE_SAMPLES", file=sys.stderr)
        return 2

    raw = raw_detector_fps(args.raw_frames)
    print(f"raw detector (default model and backend):  {raw:6.2f} frames/s")

    with tempfile.TemporaryDirectory() as tmp:
        topics = run_pipeline(Path(tmp) / "fast", example_scenes(), True, args.throughput_frames)
    frames, tracks = topics[FRAMES], topics[TRACKS]
    span_s = (max(m.timestamp_ms for m in tracks) - min(m.timestamp_ms for m in frames)) / 1000
    pipeline_fps = len(tracks) / span_s
    print(
        f"pipeline (6 processes, real broker):       {pipeline_fps:6.2f} frames/s"
        f"   ratio pipeline/raw = {pipeline_fps / raw:.2f}   ({len(tracks)} frames)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        scene = grid_scene(Path(tmp) / "grid.yaml")
        topics = run_pipeline(Path(tmp) / "paced", scene, False, args.latency_frames)
    alert_latency = []
    for message in topics[ALERTS]:
        alert = codec.decode_alert(message.value)
        # The first publication of each alert: later ones (merges, escalations) are not news.
        if alert.count == 1 and alert.escalation_level == 0 and alert.frame is not None:
            alert_latency.append(message.timestamp_ms - alert.frame.captured_at * 1000)
    track_latency = [
        m.timestamp_ms - codec.decode_tracks(m.value).frame.captured_at * 1000
        for m in topics[TRACKS]
    ]
    print(f"frame-to-alert latency (real-time pacing):  {percentiles(alert_latency)}")
    print(f"frame-to-tracks latency (real-time pacing): {percentiles(track_latency)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
