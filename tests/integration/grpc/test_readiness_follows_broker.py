"""Readiness follows the broker: the real development broker, stopped under a running probe.

The broker check every service gets from its entry point (``add_broker_check``) turns /readyz
and gRPC health to failing once the broker no longer answers; liveness stays green, since a
process waiting for its broker is not stuck.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.alerting.service_process import wait_for
from vigie_runtime.app import BROKER_CHECK, add_broker_check
from vigie_runtime.grpc_server import LIVENESS, GrpcServer
from vigie_runtime.health import Health, ProbeServer
from vigie_runtime.settings import GrpcSettings, KafkaSettings

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_an_unreachable_broker_fails_readyz_and_grpc_health(broker: object) -> None:
    health = Health()
    check = add_broker_check(
        health,
        KafkaSettings(bootstrap_servers=broker.bootstrap),
        ttl_s=0.5,  # type: ignore[attr-defined]
    )
    stop_beating = threading.Event()

    def loop() -> None:  # the stage's loop, turning all along
        while not stop_beating.wait(0.1):
            health.beat()

    threading.Thread(target=loop, daemon=True).start()
    probes = ProbeServer(health, "127.0.0.1", 0).start()
    settings = GrpcSettings(host="127.0.0.1", port=0, grace_s=0.5, plaintext=True)
    server = GrpcServer(settings, [], health=health, health_period_s=0.2).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = health_pb2_grpc.HealthStub(channel)

    def grpc_status(name: str) -> int:
        return stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=1).status

    try:
        wait_for("ready", lambda: http_status(probes.port, "/readyz") == 200)
        assert health.readiness() == {BROKER_CHECK: True}
        wait_for("serving", lambda: grpc_status("") == SERVING)

        broker.stop()  # type: ignore[attr-defined]
        started = time.monotonic()
        wait_for("readyz failing", lambda: http_status(probes.port, "/readyz") == 503, 15)
        assert time.monotonic() - started < 10
        assert not check()
        wait_for("grpc not serving", lambda: grpc_status("") == NOT_SERVING, 10)
        assert grpc_status(LIVENESS) == SERVING
        assert http_status(probes.port, "/healthz") == 200
    finally:
        stop_beating.set()
        channel.close()
        server.stop()
        probes.stop()
