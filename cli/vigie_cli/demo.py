"""``vigie demo``: the same six services in one process over the in-memory bus.

No broker, no ports to free: the quickest way to see what a clip and a zone file produce, and
the proof that the services' logic does not depend on Kafka.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TypeVar

from vigie_cli.console import alert_line, summary, summary_data
from vigie_cli.output import (
    OK,
    USAGE,
    Progress,
    add_json_argument,
    add_quiet_argument,
    notes_stream,
    print_json,
)
from vigie_cli.samples import NoSource, add_clip_arguments, resolve_clip
from vigie_core.types import Alert
from vigie_runtime import codec, topology
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings, ServiceSettings, load_settings
from vigie_runtime.topics import ALERTS

S = TypeVar("S", bound=ServiceSettings)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline in one process (no broker)")
    add_clip_arguments(p)
    p.add_argument("--realtime", action="store_true", help="pace the clip in real time")
    p.add_argument("--max-frames", type=int, default=None)
    add_json_argument(p)
    add_quiet_argument(p)
    p.set_defaults(func=main)


def build_services(
    bus: InMemoryBus,
    source: str,
    camera_id: str,
    scenes: Path | None,
    database: Path,
    realtime: bool = False,
    max_frames: int | None = None,
    config_dir: Path | None = None,
) -> dict[str, Any]:
    """Every service wired to ``bus``: settings from ``config_dir/<service>.yaml`` when present
    (as `vigie run` passes them), the environment and defaults; gRPC on ephemeral ports."""
    from vigie_alerting.service import InProcessAlertingService
    from vigie_alerting.settings import AlertingSettings
    from vigie_analytics.service import AnalyticsService
    from vigie_analytics.settings import AnalyticsSettings
    from vigie_capture.service import CaptureService
    from vigie_capture.settings import CaptureSettings
    from vigie_detection.service import DetectionService
    from vigie_detection.settings import DetectionSettings
    from vigie_storage.service import StorageService
    from vigie_storage.settings import StorageSettings
    from vigie_tracking.service import TrackingService
    from vigie_tracking.settings import TrackingSettings

    def settings(name: str, cls: type[S], **overrides: Any) -> S:
        path = config_dir / f"{name}.yaml" if config_dir is not None else None
        return load_settings(cls, path if path and path.exists() else None, **overrides)

    # Local development only: the in-process services talk over loopback, unencrypted.
    ephemeral = GrpcSettings(host="127.0.0.1", port=0, plaintext=True)
    camera = {"id": camera_id, "source": source, "max_frames": max_frames}
    pacing = "realtime" if realtime else "fast"
    return {
        "capture": CaptureService(
            settings("capture", CaptureSettings, cameras=[camera], pacing=pacing), bus, Health()
        ),
        "detection": DetectionService(
            settings("detection", DetectionSettings, grpc=ephemeral), bus, Health()
        ),
        "tracking": TrackingService(
            settings("tracking", TrackingSettings, scenes=scenes), bus, Health()
        ),
        "analytics": AnalyticsService(
            settings("analytics", AnalyticsSettings, scenes=scenes), bus, Health()
        ),
        "alerting": InProcessAlertingService(
            settings("alerting", AlertingSettings, grpc=ephemeral), bus, Health()
        ),
        "storage": StorageService(
            settings(
                "storage",
                StorageSettings,
                grpc=ephemeral,
                database=database,
                snapshots_dir=database.parent / "snapshots",
            ),
            bus,
            Health(),
        ),
    }


def run_in_process(
    services: dict[str, Any],
    bus: InMemoryBus,
    timeout_s: float = 3600,
    progress: Progress | None = None,
) -> list[Alert]:
    """Run until capture ends and every group has consumed everything; return the alerts.
    ``progress`` (if given) is told the frames published and the messages left, now and then."""
    groups = topology.drain_groups().items()

    def status() -> str:
        published = getattr(services.get("capture"), "published", None) or {}
        frames = sum(published.values())
        left = sum(bus.lag(g, topics) for g, topics in groups)
        state = "replaying" if threads["capture"].is_alive() else "replay finished, draining"
        return f"{state}: {frames} frame(s) published, {left} message(s) left to process"

    stop = threading.Event()
    capture_stop = threading.Event()
    threads = {
        name: threading.Thread(
            target=svc.run,
            args=(capture_stop if name == "capture" else stop,),
            name=name,
            daemon=True,
        )
        for name, svc in services.items()
    }
    for t in threads.values():
        t.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if progress is not None and progress.due():
                progress.update(status)
            if threads["capture"].is_alive():
                continue
            if all(bus.lag(g, topics) == 0 for g, topics in groups):
                break
    finally:
        capture_stop.set()
        stop.set()
        for t in threads.values():
            t.join(30)
    latest: dict[str, Alert] = {}
    for message in bus.messages(ALERTS):
        alert = codec.decode_alert(message.value)
        latest[alert.alert_id] = alert
    return list(latest.values())


def main(args: argparse.Namespace) -> int:
    as_json = getattr(args, "json", False)
    notes = notes_stream(as_json)
    progress = Progress(quiet=getattr(args, "quiet", False), prefix="vigie demo: ")
    try:
        clip = resolve_clip(args.source, args.camera_id, args.scenes)
    except NoSource as exc:
        print(f"vigie demo: {exc}", file=sys.stderr)
        if as_json:
            print_json({"ok": False, "error": str(exc)})
        return USAGE
    bus = InMemoryBus()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(
            bus,
            clip.source,
            clip.camera_id,
            clip.scenes,
            Path(tmp) / "vigie.sqlite",
            realtime=args.realtime,
            max_frames=args.max_frames,
            config_dir=clip.config_dir,
        )
        print(
            f"replaying {clip.source} as camera '{clip.camera_id}' in one process ...", file=notes
        )
        alerts = run_in_process(services, bus, progress=progress)
        progress.done("pipeline drained")
    frames = sum(services["capture"].published.values())
    elapsed = time.monotonic() - started
    if as_json:
        document = summary_data(alerts, frames, elapsed)
        document.update(
            {
                "ok": True,
                "error": None,
                "stopped": "drained",
                "camera_id": clip.camera_id,
                "source": clip.source,
            }
        )
        print_json(document)
        return OK
    for alert in sorted(alerts, key=lambda a: a.first_seen):
        print(alert_line(alert))
    print(summary(alerts, frames, elapsed))
    return OK
