"""``vigie run`` (``make run``): broker, topics, six service processes, a clip, alerts printed.

Ctrl-C stops capture first, then the consumers, then the broker this command started, and prints
the summary of what was raised.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from vigie_cli.console import alert_line, summary
from vigie_cli.pipeline import LocalPipeline, PipelinePlan
from vigie_cli.samples import NoSource, add_clip_arguments, resolve_clip
from vigie_core.types import Alert
from vigie_runtime import codec
from vigie_runtime.admin import admin_client, ensure_topics
from vigie_runtime.broker import BrokerProcess, port_open, start_broker
from vigie_runtime.kafka import KafkaSubscriber
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import ALERTS


class ServiceFailed(RuntimeError):
    pass


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the whole pipeline as processes on a clip")
    add_clip_arguments(p)
    p.add_argument("--broker-port", type=int, default=19092)
    p.add_argument("--fast", action="store_true", help="replay as fast as possible")
    p.add_argument("--work-dir", type=Path, default=Path("var/run"))
    p.add_argument(
        "--config-dir",
        type=Path,
        help="folder of <service>.yaml settings (default for the sample: config/sample)",
    )
    p.set_defaults(func=main)


def _alert_watcher(bootstrap: str) -> KafkaSubscriber:
    settings = KafkaSettings(
        bootstrap_servers=bootstrap,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        extra={"auto.offset.reset": "latest"},
    )
    watcher = KafkaSubscriber(settings, f"vigie-run-{uuid.uuid4().hex[:8]}", [ALERTS], "vigie-run")
    deadline = time.monotonic() + 30
    while not watcher.assigned() and time.monotonic() < deadline:
        watcher.poll(1, 0.2)
    return watcher


def main(args: argparse.Namespace) -> int:
    try:
        clip = resolve_clip(args.source, args.camera_id, args.scenes)
    except NoSource as exc:
        print(f"vigie run: {exc}", file=sys.stderr)
        return 2
    bootstrap = f"127.0.0.1:{args.broker_port}"
    broker: BrokerProcess | None = None
    if port_open("127.0.0.1", args.broker_port):
        print(f"using the broker already listening on {bootstrap}")
    else:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        broker = start_broker(args.broker_port, log_path=args.work_dir / "broker.log")
        print(f"broker started on {bootstrap}")
    for line in ensure_topics(admin_client(bootstrap)):
        print(f"  topic {line}")
    config_dir = args.config_dir or clip.config_dir
    pipeline = LocalPipeline(
        PipelinePlan(bootstrap, args.work_dir, clip.scenes, config_dir=config_dir)
    )
    if config_dir is not None:
        print(f"service settings from {config_dir}")
    seen: dict[str, Alert] = {}
    started = time.monotonic()
    status = 0
    try:
        print("starting detection, tracking, analytics, alerting, storage ...")
        pipeline.start_consumers()
        pipeline.wait_ready()
        watcher = _alert_watcher(bootstrap)
        pace = "as fast as possible" if args.fast else "in real time"
        print(f"replaying {clip.source} as camera '{clip.camera_id}' {pace} (Ctrl-C to stop)")
        print(f"logs in {args.work_dir / 'logs'}, archive in {pipeline.plan.database}\n")
        pipeline.start_capture(clip.source, clip.camera_id, fast=args.fast)
        _follow(pipeline, watcher, seen)
    except KeyboardInterrupt:
        print("\nstopping ...")
    except (RuntimeError, TimeoutError) as exc:  # ServiceFailed, a start-up that failed
        print(f"\nvigie run: {exc}", file=sys.stderr)
        status = 1
    finally:
        pipeline.stop_all()
        if broker is not None:
            broker.stop()
        print(summary(seen.values(), pipeline.captured_frames(), time.monotonic() - started))
    return status


def _follow(pipeline: LocalPipeline, watcher: KafkaSubscriber, seen: dict[str, Alert]) -> None:
    """Print each alert once, when first raised; return when the clip is fully processed."""
    try:
        with pipeline.drain_watch() as watch:
            while True:
                for message in watcher.poll(100, 0.5):
                    alert = codec.decode_alert(message.value)
                    if alert.alert_id not in seen:
                        print(alert_line(alert), flush=True)
                    seen[alert.alert_id] = alert
                if failures := pipeline.failed():
                    raise ServiceFailed("\n".join(failures))
                if watch.drained():
                    return
    finally:
        watcher.close()
