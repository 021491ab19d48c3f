"""``make bench-cameras``: how many 10 fps cameras this machine carries, at each detection interval.

Two measurements per detection interval k (the model looks at one frame in k; the tracker
carries the others), each with the six services as processes on the real broker:

1. **The clip's alerts at k**: the sample clip replayed as fast as possible through the example
   scene and the sample settings; its six visits to the table must each give one alert, and
   nothing else (the ground truth of ``tests/e2e/test_pipeline.py``). A k that breaks them is
   not offered for sizing.
2. **Cameras carried at k**: N copies of the sample clip, looped, paced in real time at its
   10 fps and published as live cameras (so freshness and staleness apply, as with real
   cameras), from one capture process. N grows from 1 until the live path stops keeping up:
   after a warm-up, over a measuring window, the messages in flight in the groups on the path
   to the alert (the topology's ``live`` groups) must not grow (least-squares slope under
   ``--max-slope`` messages per second per camera), a live frame's tracks must be recorded
   within a second of its capture (p95 over the window: the committed offsets the lag is read
   from trail each group by its commit interval, so the count in flight is no measure of
   delay), and no live frame may have been skipped as stale. The largest such N is the figure
   of the live path. The groups off it (storage's archive and snapshots, heartbeats) run on
   the cores the live path leaves idle: the largest N at which they do not grow either is the
   figure of the whole node, storage's redaction included. Load does not raise k here
   (``max_frames`` = k), so what is measured is the configured k.

The raw detector's frames/s from the same run is printed beside it: at k = 1 with no overhead
at all, a node would carry raw / 10 cameras.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.bench_e2e import CLIP, raw_detector, read_topic
from vigie_cli.pipeline import LocalPipeline, PipelinePlan
from vigie_cli.samples import (
    SAMPLE_CAMERA,
    SAMPLE_SLACK_FRAMES,
    SAMPLE_VISITS,
    example_scenes,
    sample_config_dir,
)
from vigie_core.types import Alert
from vigie_runtime import codec
from vigie_runtime.admin import LagProbe
from vigie_runtime.broker import fresh_broker
from vigie_runtime.topics import ALERTS, TRACKS
from vigie_runtime.topology import SERVICES

FPS = 10.0


@contextlib.contextmanager
def pipeline_at(work: Path, interval: int, cameras: list[str]) -> Iterator[LocalPipeline]:
    """The six services at detection interval ``interval`` on a fresh broker, consumers
    started and ready; capture is started by the caller."""
    with fresh_broker() as broker:
        config = work / "config"
        config.mkdir(parents=True, exist_ok=True)
        sample = sample_config_dir()
        if sample is not None:
            for path in sample.glob("*.yaml"):
                (config / path.name).write_text(path.read_text())
        scenes = yaml.safe_load(example_scenes().read_text())
        (scene,) = scenes["cameras"].values()
        scene_file = work / "scenes.yaml"
        scene_file.write_text(yaml.safe_dump({"cameras": {c: scene for c in cameras}}))
        plan = PipelinePlan.on_free_ports(
            broker.bootstrap,
            work,
            scene_file,
            session_timeout_ms=2000,
            log_level="WARNING",
            config_dir=config,
            extra_env={
                "VIGIE_INTERVAL__FRAMES": str(interval),
                "VIGIE_INTERVAL__MAX_FRAMES": str(interval),
            },
        )
        pipeline = LocalPipeline(plan)
        try:
            pipeline.start_consumers()
            pipeline.wait_ready()
            yield pipeline
        finally:
            pipeline.stop_all()


def write_capture_config(pipeline: LocalPipeline, cameras: list[str], live: bool) -> None:
    """capture.yaml of the plan's config folder: the sample clip under each camera id."""
    config_dir = pipeline.plan.config_dir
    assert config_dir is not None
    sources = [
        {"id": camera, "source": str(CLIP), "on_end": "loop", "replay": not live}
        for camera in cameras
    ]
    (config_dir / "capture.yaml").write_text(yaml.safe_dump({"cameras": sources}))


# --- 1. the clip's alerts at k ----------------------------------------------------------------


@dataclass(frozen=True)
class AlertCheck:
    visits_alerted: int
    extra: int
    frames: list[int]

    @property
    def right(self) -> bool:
        return self.visits_alerted == len(SAMPLE_VISITS) and self.extra == 0


def check_alerts(alerts: dict[str, Alert]) -> AlertCheck:
    """One alert per visit, raised during it, and nothing else."""
    frames = sorted(a.frame.sequence for a in alerts.values() if a.frame is not None)
    alerted = sum(
        1
        for start, end in SAMPLE_VISITS
        if len([f for f in frames if start - SAMPLE_SLACK_FRAMES <= f <= end]) == 1
    )
    # Every alert not accounted for by a visit alerted exactly once: doubles, strays, frameless.
    return AlertCheck(alerted, len(alerts) - alerted, frames)


def clip_alerts(work: Path, interval: int) -> AlertCheck:
    with pipeline_at(work, interval, [SAMPLE_CAMERA]) as pipeline:
        pipeline.start_capture(str(CLIP), SAMPLE_CAMERA, fast=True)
        if not pipeline.wait_drained(timeout_s=1800):
            raise RuntimeError(f"the clip did not drain\n{pipeline.why_not_drained()}")
        latest: dict[str, Alert] = {}
        for message in read_topic(pipeline.plan.bootstrap, ALERTS):
            alert = codec.decode_alert(message.value)
            latest[alert.alert_id] = alert
    return check_alerts(latest)


# --- 2. cameras carried at k --------------------------------------------------------------------


MAX_TRACKS_P95_MS = 1000.0  # a live frame's tracks within a second of its capture


# Groups off the path to the alert: they may lag while the live path keeps up.
BACKGROUND_GROUPS = frozenset(
    group_id
    for service in SERVICES
    for group_id, group in service.consumer_groups().items()
    if not group.live
)


@dataclass(frozen=True)
class Trial:
    cameras: int
    slope_per_s: float  # growth of the messages in flight on the live path
    in_flight_end: int  # printed only: committed offsets trail each group by its commit interval
    stale: float  # live frames skipped as stale during the trial
    tracks_p95_ms: float  # capture to the tracks record, over the measuring window
    background_slope_per_s: float = 0.0  # growth in the groups off the live path

    def kept_up(self, max_slope_per_camera: float) -> bool:
        """The live path keeps up: frames reach their alerts as fast as they come."""
        return (
            self.slope_per_s <= max_slope_per_camera * self.cameras
            and self.tracks_p95_ms <= MAX_TRACKS_P95_MS
            and self.stale == 0
        )

    def node_kept_up(self, max_slope_per_camera: float) -> bool:
        """The whole node keeps up: the live path, and storage's redaction behind it."""
        return (
            self.kept_up(max_slope_per_camera)
            and self.background_slope_per_s <= max_slope_per_camera * self.cameras
        )


def in_flight(probe: LagProbe) -> tuple[int, int]:
    """Messages in flight on the live path, and in the groups off it."""
    lags = LocalPipeline.lags(probe)
    background = sum(n for group, n in lags.items() if group in BACKGROUND_GROUPS)
    return sum(lags.values()) - background, background


def tracks_p95_ms(bootstrap: str, from_ms: int, to_ms: int) -> float:
    """p95 of capture-to-tracks-record over the tracks recorded in [from_ms, to_ms]: how far
    behind its cameras the live path runs (inf when none were recorded: nothing kept up)."""
    ages = []
    for message in read_topic(bootstrap, TRACKS):
        if from_ms <= message.timestamp_ms <= to_ms:
            captured_at = codec.decode_tracks(message.value).frame.captured_at
            ages.append(message.timestamp_ms - captured_at * 1000)
    if len(ages) < 2:
        return float("inf")
    return statistics.quantiles(ages, n=100, method="inclusive")[94]


def stale_skipped(pipeline: LocalPipeline) -> float:
    """Live frames skipped as stale so far, by detection and analytics."""
    total = 0.0
    for name in ("detection", "analytics"):
        url = f"http://127.0.0.1:{pipeline.ports(name)[0]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith("vigie_frames_skipped_total{") and 'reason="stale"' in line:
                    total += float(line.rsplit(" ", 1)[1])
    return total


def slope(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    times = [t for t, _ in points]
    values = [float(v) for _, v in points]
    return statistics.linear_regression(times, values).slope


def trial(pipeline: LocalPipeline, cameras: int, warm_up_s: float, window_s: float) -> Trial:
    ids = [f"cam-{i:02d}" for i in range(cameras)]
    write_capture_config(pipeline, ids, live=True)
    probe = LagProbe(pipeline.plan.bootstrap)
    stale_before = stale_skipped(pipeline)
    capture = pipeline.start("capture", key=f"capture-{cameras}")
    try:
        time.sleep(warm_up_s)
        points: list[tuple[float, int]] = []
        behind: list[tuple[float, int]] = []
        started, window_from_ms = time.monotonic(), int(time.time() * 1000)
        while (elapsed := time.monotonic() - started) < window_s:
            live, background = in_flight(probe)
            points.append((elapsed, live))
            behind.append((elapsed, background))
            time.sleep(1.0)
        window_to_ms = int(time.time() * 1000)
        stale = stale_skipped(pipeline) - stale_before
    finally:
        capture.terminate()
        capture.wait(30)
    # Let what is in flight finish before the next trial (stale frames go quickly; storage's
    # redaction has the whole machine now).
    deadline = time.monotonic() + 300
    while LocalPipeline.lag(probe) > 0 and time.monotonic() < deadline:
        time.sleep(1.0)
    p95 = tracks_p95_ms(pipeline.plan.bootstrap, window_from_ms, window_to_ms)
    end = points[-1][1] if points else 0
    return Trial(cameras, slope(points), end, stale, p95, background_slope_per_s=slope(behind))


def cameras_carried(
    work: Path, interval: int, most: int, warm_up_s: float, window_s: float, max_slope: float
) -> tuple[int, int, list[Trial]]:
    """(cameras the live path carries, cameras the whole node carries, every trial)."""
    trials: list[Trial] = []
    ids = [f"cam-{i:02d}" for i in range(most)]
    with pipeline_at(work, interval, ids) as pipeline:
        for cameras in range(1, most + 1):
            result = trial(pipeline, cameras, warm_up_s, window_s)
            trials.append(result)
            node = "keeps up" if result.node_kept_up(max_slope) else "falls behind"
            print(
                f"  k={interval} cameras={cameras:2d}: live path in flight growing "
                f"{result.slope_per_s:+6.2f}/s, {result.in_flight_end:4d} at the end, "
                f"tracks p95 {result.tracks_p95_ms:.0f} ms, {result.stale:.0f} stale -> "
                f"{'keeps up' if result.kept_up(max_slope) else 'falls behind'}; off it "
                f"{result.background_slope_per_s:+6.2f}/s -> node {node}",
                flush=True,
            )
            if not result.kept_up(max_slope):
                break
    live = max((t.cameras for t in trials if t.kept_up(max_slope)), default=0)
    node = max((t.cameras for t in trials if t.node_kept_up(max_slope)), default=0)
    return live, node, trials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--intervals", default="1,2,3", help="detection intervals to measure")
    parser.add_argument("--most", type=int, default=12, help="cameras tried at most")
    parser.add_argument("--warm-up-s", type=float, default=15.0)
    # Long beside storage's redaction cycle (a clip is about 15 s of CPU on idle cores).
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--max-slope", type=float, default=0.5, help="per camera, messages/s")
    parser.add_argument("--raw-frames", type=int, default=150)
    parser.add_argument("--skip-alerts", action="store_true", help="cameras only")
    args = parser.parse_args(argv)
    if not CLIP.exists():
        print(f"sample clip not found at {CLIP}; set VIGIE_SAMPLES", file=sys.stderr)
        return 2
    intervals = [int(k) for k in args.intervals.split(",")]

    model = raw_detector(args.raw_frames)
    print(
        f"raw detector: {model.fps:.1f} frames/s, i.e. {model.fps / FPS:.1f} cameras of "
        f"{FPS:.0f} fps at k = 1 if nothing else took any CPU",
        flush=True,
    )
    results: dict[int, dict[str, object]] = {}
    for k in intervals:
        with tempfile.TemporaryDirectory() as tmp:
            check = None if args.skip_alerts else clip_alerts(Path(tmp) / "alerts", k)
        if check is not None:
            print(
                f"k={k}: the clip's alerts {'right' if check.right else 'WRONG'} "
                f"({check.visits_alerted}/{len(SAMPLE_VISITS)} visits alerted once, "
                f"{check.extra} extra; alert frames {check.frames})",
                flush=True,
            )
        with tempfile.TemporaryDirectory() as tmp:
            carried, node, _ = cameras_carried(
                Path(tmp) / "cameras",
                k,
                args.most,
                args.warm_up_s,
                args.window_s,
                args.max_slope,
            )
        results[k] = {
            "cameras_live_path": carried,
            "cameras_node": node,
            "alerts_right": None if check is None else check.right,
        }
        print(
            f"k={k}: {carried} cameras of {FPS:.0f} fps carried by the live path, {node} with"
            " storage's redaction keeping up on the same cores",
            flush=True,
        )
    print("summary: " + json.dumps({"raw_fps": round(model.fps, 1), "by_interval": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
