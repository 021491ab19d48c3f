"""The six services as separate processes on one machine: what `vigie run`, the end-to-end
tests and the benchmark start, so all three exercise the same deployment shape."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from vigie_cli.output import Progress
from vigie_runtime import topology
from vigie_runtime.admin import LagProbe
from vigie_runtime.broker import free_port

# The services of the data path that consume, upstream first (capture is started on its own,
# with a clip; so is the console, which serves people and is not needed for alerts to flow).
CONSUMERS = tuple(s.name for s in topology.consumers() if s.web_port is None)


def default_http_ports() -> dict[str, int]:
    return {s.name: s.http_port for s in topology.SERVICES}


def default_grpc_ports() -> dict[str, int]:
    return {s.name: s.grpc_port for s in topology.SERVICES if s.grpc_port is not None}


def default_web_ports() -> dict[str, int]:
    return {s.name: s.web_port for s in topology.SERVICES if s.web_port is not None}


@dataclass
class PipelinePlan:
    bootstrap: str
    work_dir: Path
    scenes: Path | None
    http_ports: dict[str, int] = field(default_factory=default_http_ports)
    grpc_ports: dict[str, int] = field(default_factory=default_grpc_ports)
    web_ports: dict[str, int] = field(default_factory=default_web_ports)
    # Short sessions let a restarted replica take its partitions back quickly on one machine.
    session_timeout_ms: int = 6000
    log_level: str = "INFO"
    # Folder of per-service YAML settings (<service>.yaml), each passed as VIGIE_CONFIG.
    config_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # The processes talk over loopback on one machine: plaintext gRPC, a local-development
    # choice made here explicitly (a service with neither TLS nor this setting refuses to start).
    grpc_plaintext: bool = True

    @classmethod
    def on_free_ports(
        cls, bootstrap: str, work_dir: Path, scenes: Path | None, **options: object
    ) -> PipelinePlan:
        """A plan whose services listen on ports nobody else was handed: several pipelines (tests,
        benchmarks) on one machine, none on the fixed ports of `vigie run`."""
        return cls(
            bootstrap,
            work_dir,
            scenes,
            http_ports={s.name: free_port() for s in topology.SERVICES},
            grpc_ports={s.name: free_port() for s in topology.SERVICES if s.grpc_port is not None},
            web_ports={s.name: free_port() for s in topology.SERVICES if s.web_port is not None},
            **options,  # type: ignore[arg-type]
        )

    @property
    def database(self) -> Path:
        return self.work_dir / "vigie.sqlite"

    def log_path(self, name: str) -> Path:
        return self.work_dir / "logs" / f"{name}.log"

    def env(
        self, name: str, http_port: int | None = None, grpc_port: int | None = None
    ) -> dict[str, str]:
        """The environment of service ``name``; a replica passes its own ports."""
        http_port = self.http_ports[name] if http_port is None else http_port
        if grpc_port is None:
            grpc_port = self.grpc_ports.get(name)
        env = dict(os.environ)
        env.update(
            {
                "VIGIE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
                "VIGIE_KAFKA__SINGLE_RECORD_BATCHES": "true",
                "VIGIE_KAFKA__SESSION_TIMEOUT_MS": str(self.session_timeout_ms),
                "VIGIE_KAFKA__HEARTBEAT_INTERVAL_MS": str(max(100, self.session_timeout_ms // 6)),
                "VIGIE_HTTP__PORT": str(http_port),
                "VIGIE_LOG_LEVEL": self.log_level,
            }
        )
        if self.config_dir is not None and (self.config_dir / f"{name}.yaml").exists():
            env["VIGIE_CONFIG"] = str((self.config_dir / f"{name}.yaml").resolve())
        if grpc_port is not None:
            env["VIGIE_GRPC__PORT"] = str(grpc_port)
            if self.grpc_plaintext:
                env["VIGIE_GRPC__PLAINTEXT"] = "true"
            if name == "alerting":  # where the other replicas forward desk calls
                env["VIGIE_DESK_ADVERTISED_ADDRESS"] = f"127.0.0.1:{grpc_port}"
        if name in ("analytics", "tracking", "console") and self.scenes is not None:
            env["VIGIE_SCENES"] = str(self.scenes)
        if name == "console":  # it calls the desk and the archive, and serves browsers
            env["VIGIE_DESK_ADDRESS"] = f"127.0.0.1:{self.grpc_ports['alerting']}"
            env["VIGIE_ARCHIVE_ADDRESS"] = f"127.0.0.1:{self.grpc_ports['storage']}"
            env["VIGIE_WEB__PORT"] = str(self.web_ports["console"])
            env["VIGIE_WEB__HOST"] = "127.0.0.1"
            if self.grpc_plaintext:
                env["VIGIE_GRPC__PLAINTEXT"] = "true"
        if name == "storage":
            env["VIGIE_DATABASE"] = str(self.database)
            env["VIGIE_SNAPSHOTS_DIR"] = str(self.work_dir / "snapshots")
        env.update(self.extra_env)
        return env


def service_of(key: str) -> str:
    """The service a process key names: ``tracking``, ``tracking-1``, ``capture-gate-a``."""
    return next((s.name for s in topology.SERVICES if key.split("-")[0] == s.name), key)


# Gauges of work a service owes that its consumer group's lag does not show.
OWED_GAUGES = {"vigie_snapshots_pending": "snapshots owed", "vigie_clips_pending": "clips owed"}


def _gauge_value(metrics: str, name: str) -> int:
    """An unlabelled gauge's value in a Prometheus text exposition; 0 when absent."""
    try:
        samples = [s for f in text_string_to_metric_families(metrics) for s in f.samples]
    except ValueError:
        return 1  # unreadable: owed until it reads
    return next((int(s.value) for s in samples if s.name == name and not s.labels), 0)


class LocalPipeline:
    """Service processes by key: the service's name, or ``<service>-<n>`` for a replica (each
    with ports of its own), or ``capture-<camera>`` for one capture per camera."""

    def __init__(self, plan: PipelinePlan) -> None:
        self.plan = plan
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._ports: dict[str, tuple[int, int | None]] = {}
        plan.work_dir.mkdir(parents=True, exist_ok=True)
        (plan.work_dir / "logs").mkdir(exist_ok=True)

    def ports(self, key: str) -> tuple[int, int | None]:
        """(HTTP, gRPC) of a process key: the plan's for a service's own name, fresh free
        ports for a replica, kept across its restarts."""
        if key not in self._ports:
            name = service_of(key)
            if key == name:
                self._ports[key] = (self.plan.http_ports[name], self.plan.grpc_ports.get(name))
            else:
                grpc_port = free_port() if name in self.plan.grpc_ports else None
                self._ports[key] = (free_port(), grpc_port)
        return self._ports[key]

    def grpc_port(self, key: str) -> int:
        port = self.ports(key)[1]
        if port is None:
            raise KeyError(f"{key} serves no gRPC")
        return port

    def start(self, name: str, *args: str, key: str | None = None) -> subprocess.Popen[bytes]:
        key = key or name
        http_port, grpc_port = self.ports(key)
        log = open(self.plan.log_path(key), "ab")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(
            [sys.executable, "-m", f"vigie_{name}", *args],
            env=self.plan.env(name, http_port, grpc_port),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        self.processes[key] = process
        return process

    def start_replica(self, name: str, index: int) -> subprocess.Popen[bytes]:
        """Replica ``index`` of ``name``: same settings and groups, ports of its own."""
        return self.start(name, key=f"{name}-{index}")

    def start_consumers(self) -> None:
        for name in CONSUMERS:
            self.start(name)

    def start_capture(
        self,
        source: str,
        camera_id: str,
        fast: bool = False,
        loop: bool = False,
        max_frames: int | None = None,
        key: str = "capture",
    ) -> subprocess.Popen[bytes]:
        args = ["--source", source, "--camera-id", camera_id]
        if max_frames is not None:
            args += ["--max-frames", str(max_frames)]
        if fast:
            args.append("--as-fast-as-possible")
        if loop:
            args.append("--loop")
        return self.start("capture", *args, key=key)

    def owed(self) -> dict[str, int]:
        """Work a service still owes that holds no offset, from each running storage process's
        metrics (``vigie_snapshots_pending``, ``vigie_clips_pending``): an alert waiting for its
        frame lets the group's lag reach zero before its snapshot is taken. A storage process
        that does not answer owes an unknown amount, counted as one."""
        owed: dict[str, int] = {}
        for key, process in self.processes.items():
            if service_of(key) != "storage" or process.poll() is not None:
                continue
            url = f"http://127.0.0.1:{self.ports(key)[0]}/metrics"
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    text = reply.read().decode(errors="replace")
            except OSError:
                owed[f"{key}: metrics unanswered"] = 1
                continue
            for gauge, what in OWED_GAUGES.items():
                count = _gauge_value(text, gauge)
                if count:
                    owed[f"{key}: {what}"] = count
        return owed

    def ready(self, key: str) -> bool:
        url = f"http://127.0.0.1:{self.ports(key)[0]}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    def wait_ready(self, names: tuple[str, ...] = CONSUMERS, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(names)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                process = self.processes[name]
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with code {process.returncode}; "
                        f"see {self.plan.log_path(name)}"
                    )
                if self.ready(name):
                    pending.remove(name)
            time.sleep(0.3)
        if pending:
            raise TimeoutError(f"not ready after {timeout_s:.0f}s: {', '.join(pending)}")

    def kill(self, name: str) -> None:
        """SIGKILL: the crash case, no chance to commit."""
        process = self.processes[name]
        process.kill()
        process.wait()

    def stop(self, name: str, timeout_s: float = 20) -> int | None:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def stop_all(self) -> dict[str, int | None]:
        # Upstream first, so downstream stages can finish what is already in flight.
        order = ("capture", *CONSUMERS, "console")
        keys = sorted(self.processes, key=lambda k: order.index(service_of(k)))
        return {key: self.stop(key) for key in keys}

    def failed(self) -> list[str]:
        """Consumers that exited although nobody asked them to stop."""
        return [
            f"{name} exited with code {p.returncode}; see {self.plan.log_path(name)}"
            for name, p in self.processes.items()
            if service_of(name) != "capture" and p.poll() is not None
        ]

    def capturing(self) -> bool:
        return any(
            p.poll() is None for k, p in self.processes.items() if service_of(k) == "capture"
        )

    @staticmethod
    def lag(probe: LagProbe, groups: Mapping[str, Sequence[str]] | None = None) -> int:
        """Messages not yet done by ``groups`` (by default, those that run with default
        settings)."""
        return sum(LocalPipeline.lags(probe, groups).values())

    @staticmethod
    def lags(probe: LagProbe, groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, int]:
        """Group id -> messages it has not yet done, for ``groups`` (group id -> topics; by
        default, the groups that run with default settings)."""
        groups = topology.drain_groups() if groups is None else groups
        return {group: probe.lag(group, topics) for group, topics in groups.items()}

    def drain_groups(self) -> dict[str, tuple[str, ...]]:
        """The groups this run's services run: those of the default settings, less those its
        environment switches off (``VIGIE_SNAPSHOTS__ENABLED=false``: no snapshot group to
        wait on for ever)."""
        return topology.drain_groups(topology.switched_off({**os.environ, **self.plan.extra_env}))

    def why_not_drained(self, log_lines: int = 5) -> str:
        """What a pipeline that did not drain was still doing: the groups behind, and each
        process of their services (running or its exit code) with the end of its log, so a
        failure on a machine nobody can log into says which stage stopped turning."""
        probe = LagProbe(self.plan.bootstrap)
        try:
            groups = self.drain_groups()
            behind = {group: probe.behind(group, topics) for group, topics in groups.items()}
        finally:
            probe.close()
        behind = {group: partitions for group, partitions in behind.items() if partitions}
        services = {
            s.name for s in topology.SERVICES for group in s.consumer_groups() if group in behind
        }
        lines = [f"groups behind (done/end per partition): {behind or 'none'}"]
        lines.append(f"capturing: {self.capturing()}; owed: {self.owed() or 'nothing'}")
        for key, process in sorted(self.processes.items()):
            if service_of(key) not in services and process.poll() is None:
                continue
            state = "running" if process.poll() is None else f"exited {process.returncode}"
            path = self.plan.log_path(key)
            lines.append(f"-- {key} ({state}), last lines of {path}:")
            text = path.read_text(errors="replace") if path.exists() else ""
            lines.extend(f"   {line[:400]}" for line in text.splitlines()[-log_lines:])
        return "\n".join(lines)

    def drain_watch(self, settle_s: float = 2.0) -> DrainWatch:
        return DrainWatch(self, settle_s)

    def wait_drained(
        self, timeout_s: float = 300, settle_s: float = 2.0, progress: Progress | None = None
    ) -> bool:
        """True once capture has ended and every group stays at zero lag for ``settle_s``;
        ``progress`` says what is still in flight while it waits (benchmarks, long replays)."""
        deadline = time.monotonic() + timeout_s
        with self.drain_watch(settle_s) as watch:
            while time.monotonic() < deadline:
                status = watch.look()
                if status.drained:
                    if progress is not None:
                        progress.done(status.describe())
                    return True
                if progress is not None:
                    progress.update(status.describe)
                time.sleep(0.5)
            return False

    def captured_frames(self) -> int | None:
        """The frame count the capture service logged when it finished."""
        path = self.plan.log_path("capture")
        if not path.exists():
            return None
        for line in reversed(path.read_text(errors="replace").splitlines()):
            if '"capture finished"' in line:
                try:
                    return sum(json.loads(line)["frames"].values())
                except (ValueError, KeyError):
                    return None
        return None


@dataclass(frozen=True)
class DrainStatus:
    """What a :class:`DrainWatch` saw: capture still running, each group's lag, drained, and
    the work owed that holds no offset (:meth:`LocalPipeline.owed`)."""

    capturing: bool
    lags: dict[str, int]
    drained: bool
    owed: dict[str, int] = field(default_factory=dict)

    @property
    def left(self) -> int:
        return sum(self.lags.values())

    def describe(self) -> str:
        """One line for a person: what the pipeline is still doing, and for whom."""
        busy = ", ".join(f"{group} {n}" for group, n in self.lags.items() if n)
        if self.capturing:
            state = "replaying the clip"
            return f"{state}: {self.left} message(s) in flight ({busy})" if busy else state
        if self.drained:
            return "pipeline drained: every message processed"
        if busy:
            return (
                f"replay finished, waiting for the pipeline to drain: {self.left} message(s)"
                f" left ({busy})"
            )
        if self.owed:
            owed = ", ".join(f"{what} {n}" for what, n in self.owed.items())
            return f"replay finished, every message processed; waiting for {owed}"
        return "replay finished, every message processed; making sure nothing more arrives"


class DrainWatch:
    """Tells, one look at a time, whether capture has ended and every consumer group has
    stayed at zero lag, with no snapshot or clip owed (:meth:`LocalPipeline.owed`), for
    ``settle_s`` (lag probes are cheap; callers interleave other work)."""

    def __init__(self, pipeline: LocalPipeline, settle_s: float) -> None:
        self.pipeline = pipeline
        self.settle_s = settle_s
        self.probe = LagProbe(pipeline.plan.bootstrap)
        self.groups = pipeline.drain_groups()
        self._zero_since: float | None = None

    def drained(self) -> bool:
        return self.look().drained

    def look(self) -> DrainStatus:
        """One look: is capture running, what each group still has to do, drained or not."""
        capturing = self.pipeline.capturing()
        lags = self.pipeline.lags(self.probe, self.groups)
        if capturing or any(lags.values()):
            self._zero_since = None
            return DrainStatus(capturing, lags, False)
        owed = self.pipeline.owed()  # asked only once the groups are done
        if owed:
            self._zero_since = None
            return DrainStatus(False, lags, False, owed)
        self._zero_since = self._zero_since or time.monotonic()
        return DrainStatus(False, lags, time.monotonic() - self._zero_since >= self.settle_s)

    def __enter__(self) -> DrainWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.probe.close()
