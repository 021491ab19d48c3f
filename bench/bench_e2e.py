"""``make bench-e2e``: frame-to-alert latency and pipeline throughput, against the raw detector.

Three measurements in one run, so the machine's noise affects all of them alike:
1. raw detector frames/s: a tight loop of the yolov4-tiny model over decoded frames, with the
   CPU time it takes per frame (every thread of the model counted);
2. pipeline frames/s: the six services as processes on the real broker, the clip replayed as
   fast as possible, counted from the first frame published to the last track published;
   printed as a ratio over (1), measured again after the replay and averaged so the machine's
   drift does not fall on the ratio — detection is the bottleneck, so 1.0 means no overhead. Each
   process's CPU time over the replay, per frame, is printed beside the model's own, so the
   cost of every stage that is not the model is visible (on two cores, every millisecond a
   stage spends is one the detector does not get);
3. latency: the clip paced in real time through a scene whose grid of zones and zero cooldown
   makes every zone entry an alert; frame-to-alert = alert record time - frame capture time,
   with the time at which each topic on the way had the frame's message, and the goal
   (twice the model's latency plus 100 ms) beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.process_cpu import children_cpu_seconds, cpu_seconds, own_cpu_seconds
from vigie_cli.output import Progress
from vigie_cli.pipeline import LocalPipeline, PipelinePlan
from vigie_cli.samples import SAMPLE_CAMERA, default_samples_dir, example_scenes
from vigie_runtime import codec
from vigie_runtime.broker import fresh_broker
from vigie_runtime.bus import Message
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import ALERTS, DETECTIONS, EVENTS, FRAMES, TRACKS

CLIP = default_samples_dir() / "intel-sample-videos" / "one-by-one-person-detection.mp4"


@dataclass(frozen=True)
class RawModel:
    fps: float
    cpu_ms_per_frame: float  # every thread of the model

    @property
    def latency_ms(self) -> float:
        return 1000.0 / self.fps


def raw_detector(frames: int) -> RawModel:
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
    detector.detect(images[0])  # the first call builds the session's buffers
    started, cpu_started = time.perf_counter(), own_cpu_seconds()
    for image in images:
        detector.detect(image)
    wall_s, cpu_s = time.perf_counter() - started, own_cpu_seconds() - cpu_started
    return RawModel(len(images) / wall_s, 1000.0 * cpu_s / len(images))


@dataclass
class PipelineRun:
    topics: dict[str, list[Message]]
    cpu_s: dict[str, float]  # each process's CPU seconds over the replay, the broker's too


def cpu_of(pipeline: LocalPipeline, broker_pid: int) -> dict[str, float]:
    pids = {key: process.pid for key, process in pipeline.processes.items()}
    seconds = {key: cpu_seconds(pid) for key, pid in {**pids, "broker": broker_pid}.items()}
    return {key: value for key, value in seconds.items() if value is not None}


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
    work: Path,
    scenes: Path,
    fast: bool,
    max_frames: int | None,
    topics: tuple[str, ...],
    interval: int = 1,
) -> PipelineRun:
    """One replay of the clip; ``interval`` is the detection interval k (the model looks at
    one frame in k), held there (load does not raise it)."""
    with fresh_broker() as broker:
        plan = PipelinePlan.on_free_ports(
            broker.bootstrap,
            work,
            scenes,
            session_timeout_ms=2000,
            log_level="WARNING",
            # Every zone entry an alert: no merging (cooldown 0), intrusions allowed everywhere.
            extra_env={
                "VIGIE_INTERVAL__FRAMES": str(interval),
                "VIGIE_INTERVAL__MAX_FRAMES": str(interval),
                "VIGIE_POLICY": json.dumps(
                    {
                        "version": "bench",
                        "cooldown_s": 0,
                        "default": {"zone_intrusion": {"severity": "high"}},
                        "escalation": {"after_s": {}},
                    }
                ),
            },
        )
        pipeline = LocalPipeline(plan)
        try:
            pipeline.start_consumers()
            pipeline.wait_ready()
            before, reaped_before = cpu_of(pipeline, broker.process.pid), children_cpu_seconds()
            capture = pipeline.start_capture(
                str(CLIP), SAMPLE_CAMERA, fast=fast, max_frames=max_frames
            )
            progress = Progress(prefix="bench-e2e: ")  # what is in flight, on stderr
            if not pipeline.wait_drained(timeout_s=1800, progress=progress):
                raise RuntimeError(f"pipeline did not drain\n{pipeline.why_not_drained()}")
            after = cpu_of(pipeline, broker.process.pid)
            capture.wait()  # reaped: its time is in this process's children's usage now
            cpu_s = {key: after[key] - before[key] for key in after if key in before}
            cpu_s["capture"] = children_cpu_seconds() - reaped_before
        finally:
            pipeline.stop_all()
        return PipelineRun({t: read_topic(broker.bootstrap, t) for t in topics}, cpu_s)


STAGE_ORDER = ("capture", "detection", "tracking", "analytics", "alerting", "storage", "broker")


def print_cpu(cpu_s: dict[str, float], frames: int, model: RawModel) -> None:
    """Each process's CPU per frame beside the model's: the overhead of every stage."""
    print(f"CPU per frame over the replay ({frames} frames), beside the raw model's:")
    print(f"  {'process':<10} {'CPU ms/frame':>13} {'x model':>8}")
    print(f"  {'model':<10} {model.cpu_ms_per_frame:13.1f} {1.0:8.2f}   (raw loop, in-process)")
    total = 0.0
    for name in sorted(cpu_s, key=lambda k: STAGE_ORDER.index(k) if k in STAGE_ORDER else 99):
        per_frame = 1000.0 * cpu_s[name] / frames
        total += per_frame
        ratio = per_frame / model.cpu_ms_per_frame
        print(f"  {name:<10} {per_frame:13.1f} {ratio:8.2f}")
    print(f"  {'all':<10} {total:13.1f} {total / model.cpu_ms_per_frame:8.2f}")


def captured_at(topic: str, message: Message) -> float | None:
    """The capture time of the frame a message is about (None for a message about no frame)."""
    if topic == FRAMES:
        return codec.time_from_proto(codec.decode_frame(message.value).captured_at)
    if topic == DETECTIONS:
        return codec.decode_detections(message.value).frame.captured_at
    if topic == TRACKS:
        return codec.decode_tracks(message.value).frame.captured_at
    if topic == EVENTS:
        return codec.decode_event(message.value).frame.captured_at
    alert = codec.decode_alert(message.value)
    # The first publication of each alert: later ones (merges, escalations) are not news.
    if alert.count == 1 and alert.escalation_level == 0 and alert.frame is not None:
        return alert.frame.captured_at
    return None


def print_latency(topics: dict[str, list[Message]], model: RawModel) -> bool:
    """Frame capture to each topic's record of it; True when frame-to-alert p99 meets the goal."""
    print("latency from frame capture to each topic's record (real-time pacing):")
    alert_p99 = None
    for topic in (FRAMES, DETECTIONS, TRACKS, EVENTS, ALERTS):
        values = [
            message.timestamp_ms - t * 1000
            for message in topics[topic]
            if (t := captured_at(topic, message)) is not None
        ]
        print(f"  {topic:<22} {percentiles(values)}")
        if topic == ALERTS and len(values) >= 2:
            alert_p99 = statistics.quantiles(values, n=100, method="inclusive")[98]
    goal = 2 * model.latency_ms + 100
    if alert_p99 is None:
        print(f"frame-to-alert p99: too few alerts to say; goal {goal:.0f} ms")
        return False
    met = alert_p99 <= goal
    print(
        f"frame-to-alert p99 {alert_p99:.0f} ms, goal 2 x model {model.latency_ms:.0f} ms + 100"
        f" = {goal:.0f} ms: {'met' if met else 'NOT met'}"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw-frames", type=int, default=200)
    parser.add_argument("--throughput-frames", type=int, default=400)
    parser.add_argument("--latency-frames", type=int, default=None, help="default: whole clip")
    parser.add_argument("--skip-throughput", action="store_true", help="raw model and latency only")
    parser.add_argument(
        "--latency-interval",
        type=int,
        default=1,
        help="detection interval k of the real-time run (a node that cannot detect every frame"
        " of a 10 fps camera falls behind at k = 1, and its latency is the backlog's)",
    )
    args = parser.parse_args(argv)
    if not CLIP.exists():
        print(f"sample clip not found at {CLIP}; set VIGIE_SAMPLES", file=sys.stderr)
        return 2

    model = raw_detector(args.raw_frames)
    print(
        f"raw detector (default model and backend):  {model.fps:6.2f} frames/s"
        f"   {model.latency_ms:.1f} ms/frame   {model.cpu_ms_per_frame:.1f} CPU ms/frame"
    )

    reference = model  # the model latency the latency goal is set from
    if not args.skip_throughput:
        with tempfile.TemporaryDirectory() as tmp:
            run = run_pipeline(
                Path(tmp) / "fast", example_scenes(), True, args.throughput_frames, (FRAMES, TRACKS)
            )
        frames, tracks = run.topics[FRAMES], run.topics[TRACKS]
        span_s = (max(m.timestamp_ms for m in tracks) - min(m.timestamp_ms for m in frames)) / 1000
        pipeline_fps = len(tracks) / span_s
        # The raw loop again, after: the baseline is the mean of both, so a drift of the shared
        # machine over the replay does not land on the ratio alone.
        after = raw_detector(args.raw_frames)
        baseline = RawModel(
            (model.fps + after.fps) / 2, (model.cpu_ms_per_frame + after.cpu_ms_per_frame) / 2
        )
        print(
            f"raw detector again, after the replay:      {after.fps:6.2f} frames/s"
            f"   (baseline: the mean, {baseline.fps:.2f} frames/s)"
        )
        print(
            f"pipeline (6 processes, real broker):       {pipeline_fps:6.2f} frames/s"
            f"   ratio pipeline/raw = {pipeline_fps / baseline.fps:.2f}   ({len(tracks)} frames)"
        )
        print_cpu(run.cpu_s, len(tracks), baseline)
        reference = baseline

    with tempfile.TemporaryDirectory() as tmp:
        scene = grid_scene(Path(tmp) / "grid.yaml")
        run = run_pipeline(
            Path(tmp) / "paced",
            scene,
            False,
            args.latency_frames,
            (FRAMES, DETECTIONS, TRACKS, EVENTS, ALERTS),
            interval=args.latency_interval,
        )
    print(f"real-time run at detection interval k = {args.latency_interval}")
    print_latency(run.topics, reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
