"""``vigie run`` (``make run``): broker, topics, six service processes, a clip, alerts printed.

Every port can be moved: ``--broker-port``, ``--port-offset N`` (added to every default port,
the broker's included), ``--http-port SERVICE=PORT`` and ``--grpc-port SERVICE=PORT``
(repeatable); a port already taken is refused before anything starts (exit 2). While the clip
plays, and after it while the pipeline drains, a status line on stderr says what is still in
flight and where.
Ctrl-C stops capture first, then the consumers, then the broker this command started, and
prints the summary of what was raised (exit 130).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from vigie_cli.console import alert_line, summary, summary_data
from vigie_cli.dev_tokens import console_note, development_tokens
from vigie_cli.output import (
    FAILED,
    INTERRUPTED,
    OK,
    USAGE,
    Progress,
    add_json_argument,
    add_quiet_argument,
    notes_stream,
    print_json,
)
from vigie_cli.pipeline import (
    CONSUMERS,
    LocalPipeline,
    PipelinePlan,
    default_grpc_ports,
    default_http_ports,
    default_web_ports,
)
from vigie_cli.samples import NoSource, add_clip_arguments, resolve_clip
from vigie_core.types import Alert
from vigie_runtime import codec, topology
from vigie_runtime.admin import admin_client, ensure_topics
from vigie_runtime.broker import BrokerProcess, port_open, start_broker
from vigie_runtime.kafka import KafkaSubscriber
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import ALERTS

DEFAULT_BROKER_PORT = 19092


class ServiceFailed(RuntimeError):
    pass


class PortError(ValueError):
    """A port plan that cannot work: a bad value, two services on one port, a port taken."""


def service_port(text: str) -> tuple[str, int]:
    """``SERVICE=PORT`` as given to ``--http-port``/``--grpc-port``."""
    name, sep, port = text.partition("=")
    if not sep or not port.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected SERVICE=PORT, e.g. detection=9502")
    name = name.strip()
    if name not in topology.BY_SERVICE:
        known = ", ".join(topology.BY_SERVICE)
        raise argparse.ArgumentTypeError(f"{text!r}: no service {name!r} (known: {known})")
    return name, int(port)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the whole pipeline as processes on a clip")
    add_clip_arguments(p)
    p.add_argument(
        "--broker-port",
        type=int,
        default=None,
        help=f"the development broker's port (default {DEFAULT_BROKER_PORT} + --port-offset)",
    )
    p.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="added to every default port, the broker's included (e.g. 100: 19192, 9501, 50151"
        " ...), to run a second pipeline beside the first",
    )
    p.add_argument(
        "--http-port",
        type=service_port,
        action="append",
        default=[],
        metavar="SERVICE=PORT",
        help="a service's probes/metrics port (repeatable; wins over --port-offset)",
    )
    p.add_argument(
        "--grpc-port",
        type=service_port,
        action="append",
        default=[],
        metavar="SERVICE=PORT",
        help="a gRPC service's port: detection, alerting, storage (repeatable)",
    )
    p.add_argument("--fast", action="store_true", help="replay as fast as possible")
    p.add_argument(
        "--console",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start the operator console with development tokens (default: yes)",
    )
    p.add_argument(
        "--stay",
        action="store_true",
        help="keep the console and the services up after the clip, until Ctrl-C",
    )
    p.add_argument("--work-dir", type=Path, default=Path("var/run"))
    p.add_argument(
        "--config-dir",
        type=Path,
        help="folder of <service>.yaml settings (default for the sample: config/sample)",
    )
    add_json_argument(p)
    add_quiet_argument(p)
    p.set_defaults(func=main)


@dataclass(frozen=True)
class PortPlan:
    """Which port each listener of `vigie run` takes."""

    broker: int
    http: dict[str, int]
    grpc: dict[str, int]
    web: dict[str, int] = field(default_factory=dict)

    def listeners(self) -> list[tuple[str, int]]:
        """(what, port) for every listener the services open (the broker apart)."""
        return (
            [(f"{name} http", port) for name, port in self.http.items()]
            + [(f"{name} grpc", port) for name, port in self.grpc.items()]
            + [(f"{name} web", port) for name, port in self.web.items()]
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "broker": self.broker,
            "http": dict(self.http),
            "grpc": dict(self.grpc),
            "web": dict(self.web),
        }


def port_plan(
    broker_port: int | None = None,
    offset: int = 0,
    http: list[tuple[str, int]] | tuple[()] = (),
    grpc: list[tuple[str, int]] | tuple[()] = (),
) -> PortPlan:
    """The topology's ports moved by ``offset``, then the ones named; refused if two listeners
    share a port or one is out of range. The broker's is ``broker_port``, else the default
    moved by ``offset`` (two pipelines on one broker would share their consumer groups)."""
    if broker_port is None:
        broker_port = DEFAULT_BROKER_PORT + offset
    http_ports = {name: port + offset for name, port in default_http_ports().items()}
    grpc_ports = {name: port + offset for name, port in default_grpc_ports().items()}
    for name, port in http:
        http_ports[name] = port
    for name, port in grpc:
        if name not in grpc_ports:
            serving = ", ".join(grpc_ports)
            raise PortError(f"--grpc-port {name}={port}: {name} serves no gRPC (only {serving})")
        grpc_ports[name] = port
    web_ports = {name: port + offset for name, port in default_web_ports().items()}
    plan = PortPlan(broker_port, http_ports, grpc_ports, web_ports)
    owners: dict[int, str] = {}
    for what, port in [("broker", broker_port), *plan.listeners()]:
        if not 1 <= port <= 65535:
            raise PortError(f"{what} port {port} is out of range (1-65535)")
        if port in owners:
            raise PortError(f"{what} and {owners[port]} would both listen on port {port}")
        owners[port] = what
    return plan


def port_taken(port: int, host: str = "") -> bool:
    """Whether something already listens on ``port`` (the services bind every interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def check_ports_free(plan: PortPlan, taken: Any = port_taken) -> None:
    """Refuse, naming each and the flag that moves it, the ports something already holds."""
    busy = [(what, port) for what, port in plan.listeners() if taken(port)]
    if busy:
        names = ", ".join(f"{port} ({what})" for what, port in busy)
        raise PortError(
            f"port(s) already in use: {names}. Another `vigie run` or a test may be running;"
            " stop it, or move the ports with --port-offset N or"
            " --http-port SERVICE=PORT / --grpc-port SERVICE=PORT"
        )


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
    notes = notes_stream(args.json)
    progress = Progress(quiet=args.quiet)

    def fail(message: str, code: int) -> int:
        print(f"vigie run: {message}", file=sys.stderr)
        if args.json:
            print_json({"ok": False, "error": message, "stopped": "error"})
        return code

    try:
        clip = resolve_clip(args.source, args.camera_id, args.scenes)
        ports = port_plan(args.broker_port, args.port_offset, args.http_port, args.grpc_port)
        check_ports_free(ports)
    except (NoSource, PortError) as exc:
        return fail(str(exc), USAGE)
    bootstrap = f"127.0.0.1:{ports.broker}"
    broker: BrokerProcess | None = None
    if port_open("127.0.0.1", ports.broker):
        print(f"using the broker already listening on {bootstrap}", file=notes)
    else:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        broker = start_broker(ports.broker, log_path=args.work_dir / "broker.log")
        print(f"broker started on {bootstrap}", file=notes)
    try:
        for line in ensure_topics(admin_client(bootstrap)):
            print(f"  topic {line}", file=notes)
    except Exception as exc:  # the admin client's errors are many; the user needs one line
        if broker is not None:
            broker.stop()
        return fail(f"{bootstrap}: {exc}", FAILED)
    config_dir = args.config_dir or clip.config_dir
    # The console edits the scene file: it works on a copy in the work folder, never on the
    # example shipped with the package.
    scenes = clip.scenes
    if scenes is not None and args.console:
        scenes = args.work_dir / "scenes.yaml"
        scenes.parent.mkdir(parents=True, exist_ok=True)
        scenes.write_bytes(clip.scenes.read_bytes())
    tokens = development_tokens(args.work_dir) if args.console else None
    pipeline = LocalPipeline(
        PipelinePlan(
            bootstrap,
            args.work_dir,
            scenes,
            http_ports=ports.http,
            grpc_ports=ports.grpc,
            web_ports=ports.web,
            config_dir=config_dir,
            extra_env={"VIGIE_TOKENS_FILE": str(tokens.path)} if tokens else {},
        )
    )
    if config_dir is not None:
        print(f"service settings from {config_dir}", file=notes)
    seen: dict[str, Alert] = {}
    started = time.monotonic()
    status = OK
    stopped = "drained"
    error: str | None = None
    try:
        print("starting detection, tracking, analytics, alerting, storage ...", file=notes)
        pipeline.start_consumers()
        if tokens is not None:
            pipeline.start("console")
        pipeline.wait_ready((*CONSUMERS, "console") if tokens else CONSUMERS)
        if tokens is not None:
            print(console_note(ports.web["console"], tokens), file=notes)
        watcher = _alert_watcher(bootstrap)
        pace = "as fast as possible" if args.fast else "in real time"
        print(
            f"replaying {clip.source} as camera '{clip.camera_id}' {pace} (Ctrl-C to stop)",
            file=notes,
        )
        print(
            f"logs in {args.work_dir / 'logs'}, archive in {pipeline.plan.database}\n", file=notes
        )
        pipeline.start_capture(clip.source, clip.camera_id, fast=args.fast)
        _follow(pipeline, watcher, seen, progress, notes)
        if args.stay and tokens is not None:
            progress.clear()
            print(
                f"the clip is done; the console stays at http://127.0.0.1:{ports.web['console']}"
                " (Ctrl-C to stop)",
                file=notes,
            )
            while pipeline.processes["console"].poll() is None:
                time.sleep(0.5)
    except KeyboardInterrupt:
        progress.clear()
        print("\nstopping ...", file=notes)
        status, stopped = INTERRUPTED, "interrupted"
    except (RuntimeError, TimeoutError) as exc:  # ServiceFailed, a start-up that failed
        progress.clear()
        print(f"\nvigie run: {exc}", file=sys.stderr)
        status, stopped, error = FAILED, "failed", str(exc)
    finally:
        if pipeline.processes:
            progress.done("stopping the services, capture first ...")
        pipeline.stop_all()
        if broker is not None:
            progress.done("stopping the broker ...")
            broker.stop()
        elapsed = time.monotonic() - started
        frames = pipeline.captured_frames()
        print(summary(seen.values(), frames, elapsed), file=notes)
        if args.json:
            document = summary_data(seen.values(), frames, elapsed)
            document.update(
                {
                    "ok": status == OK,
                    "error": error,
                    "stopped": stopped,
                    "camera_id": clip.camera_id,
                    "source": clip.source,
                    "ports": ports.as_dict(),
                    "work_dir": str(args.work_dir),
                    "database": str(pipeline.plan.database),
                }
            )
            print_json(document)
    return status


class DrainRate:
    """How fast the messages left go down, over the last ``window_s``: an estimate of the time
    the drain still takes. Fed the slowest group's lag (the one that sets the pace; the sum
    jumps as each batch moves downstream)."""

    def __init__(self, window_s: float = 20.0) -> None:
        self.window_s = window_s
        self.samples: list[tuple[float, int]] = []

    def add(self, t: float, left: int) -> None:
        self.samples.append((t, left))
        while self.samples and t - self.samples[0][0] > self.window_s:
            self.samples.pop(0)

    def per_s(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, left0), (t1, left1) = self.samples[0], self.samples[-1]
        if t1 <= t0 or left1 >= left0:
            return None
        return (left0 - left1) / (t1 - t0)

    def eta(self) -> str:
        """`` (12.5/s, about 40s to go)`` or nothing when it does not go down."""
        rate, left = self.per_s(), self.samples[-1][1] if self.samples else 0
        if rate is None or left == 0:
            return ""
        return f" ({rate:.1f}/s, about {left / rate:.0f}s to go)"


def _follow(
    pipeline: LocalPipeline,
    watcher: KafkaSubscriber,
    seen: dict[str, Alert],
    progress: Progress | None = None,
    out: TextIO | None = None,
) -> None:
    """Print each alert once, when first raised; return when the clip is fully processed.

    A status line says what is in flight while the clip plays and, after it, how many messages
    each group still has to process, so the wait for the pipeline to drain is never silent."""
    progress = progress or Progress(quiet=True)
    out = out or sys.stdout
    capture_ended: float | None = None
    remaining = DrainRate()
    try:
        with pipeline.drain_watch() as watch:
            while True:
                for message in watcher.poll(100, 0.5):
                    alert = codec.decode_alert(message.value)
                    if alert.alert_id not in seen:
                        progress.clear()
                        print(alert_line(alert), file=out, flush=True)
                    seen[alert.alert_id] = alert
                if failures := pipeline.failed():
                    raise ServiceFailed("\n".join(failures))
                look = watch.look()
                remaining.add(time.monotonic(), max(look.lags.values(), default=0))
                if not look.capturing and capture_ended is None:
                    capture_ended = time.monotonic()
                    progress.update(look.describe(), force=True)
                if look.drained:
                    after = time.monotonic() - (capture_ended or time.monotonic())
                    progress.done(
                        f"{look.describe()} {after:.0f}s after the replay ended;"
                        f" {len(seen)} alert(s) raised"
                    )
                    return
                if progress.due():
                    eta = "" if look.capturing else remaining.eta()
                    progress.update(f"{look.describe()}{eta}; {len(seen)} alert(s) so far")
    finally:
        watcher.close()
