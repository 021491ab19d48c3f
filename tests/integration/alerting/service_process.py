"""The alerting service as a real process on the real broker, with its policy, tokens and a
webhook receiver on loopback: what the integration tests start, kill and restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import yaml

from vigie.v1 import services_pb2_grpc
from vigie_alerting.webhooks import verify
from vigie_runtime.auth import digest
from vigie_runtime.broker import free_port

TOKENS = {"alice-token": ("alice", "operator"), "dpo-token": ("dpo", "auditor")}
WEBHOOK_SECRET = "webhook-s3cret"


class AlertingProcess:
    def __init__(self, bootstrap: str, work: Path, policy: dict[str, Any]) -> None:
        self.work = work
        self.http_port, self.grpc_port = free_port(), free_port()
        tokens = [
            {"sha256": digest(token), "operator": who, "role": role}
            for token, (who, role) in TOKENS.items()
        ]
        (work / "tokens.yaml").write_text(yaml.safe_dump({"tokens": tokens}))
        (work / "policy.yaml").write_text(yaml.safe_dump(policy))
        settings = {
            "kafka": {
                "bootstrap_servers": bootstrap,
                "session_timeout_ms": 2000,
                "heartbeat_interval_ms": 500,
                "single_record_batches": True,
            },
            "http": {"host": "127.0.0.1", "port": self.http_port},
            "grpc": {
                "host": "127.0.0.1",
                "port": self.grpc_port,
                "grace_s": 1,
                "plaintext": True,
            },
            "policy_file": str(work / "policy.yaml"),
            "tokens_file": str(work / "tokens.yaml"),
            "tick_s": 0.5,
            "camera_silence_s": 3,
        }
        self.config = work / "alerting.yaml"
        self.config.write_text(yaml.safe_dump(settings))
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout_s: float = 90) -> None:
        self.starts += 1
        log = open(self.work / f"alerting-{self.starts}.log", "wb")  # noqa: SIM115
        env = {**os.environ, "VIGIE_WEBHOOK_SOC": WEBHOOK_SECRET, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigie_alerting", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"alerting exited: {self.log_tail()}")
            if self.ready():
                return
            time.sleep(0.3)
        raise AssertionError(f"alerting not ready in {timeout_s} s: {self.log_tail()}")

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.http_port}/readyz"
            with urllib.request.urlopen(url, timeout=1) as reply:
                return bool(json.load(reply)["ready"])
        except OSError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill(signal.SIGTERM)

    def log_tail(self, lines: int = 40) -> str:
        text = (self.work / f"alerting-{self.starts}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def desk(self) -> services_pb2_grpc.AlertDeskStub:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        return services_pb2_grpc.AlertDeskStub(channel)


def as_caller(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


class FlakyReceiver:
    """A webhook receiver that answers 500 to the first ``failures`` tries of each delivery id,
    then 200; it checks every signature and records what it accepted."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.tries: dict[str, int] = defaultdict(int)
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                delivery = self.headers["X-Vigie-Delivery"]
                signed = verify(
                    WEBHOOK_SECRET.encode(),
                    self.headers["X-Vigie-Timestamp"],
                    body,
                    self.headers["X-Vigie-Signature"],
                )
                with receiver.lock:
                    receiver.tries[delivery] += 1
                    if not signed:
                        receiver.bad_signatures += 1
                        status = 401
                    elif receiver.tries[delivery] <= receiver.failures:
                        status = 500
                    else:
                        receiver.accepted.append((delivery, json.loads(body)))
                        status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def wait_for(what: str, predicate: Callable[[], Any], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not in {timeout_s} s")
