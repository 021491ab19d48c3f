"""Liveness and readiness say the same thing on /healthz, /readyz and gRPC health.

A real stage runner on the in-memory bus whose handler gets stuck: its loop stops turning, and
after the liveness deadline the HTTP probe and every gRPC health name fail; when the handler
is released, both recover. The gRPC pools keep streams from starving unary calls and health.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vigie_runtime.bus import Message, Output
from vigie_runtime.grpc_server import LIVENESS, GrpcServer, Registration
from vigie_runtime.health import CachedCheck, Health, ProbeServer
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings
from vigie_runtime.stage import Stage, StageRunner

SERVICE = "vigie.test.Echo"
IN, DLQ = "test.in", "test.dead"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def wait_for(what: str, predicate: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def echo_registration(hold: threading.Event) -> Registration:
    """A unary ``Ping`` and a server-streaming ``Hold`` that lasts until ``hold`` is set."""

    def ping(request: bytes, context: grpc.ServicerContext) -> bytes:
        return request

    def hold_open(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        yield b"open"
        while not hold.is_set() and context.is_active():
            hold.wait(0.05)

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Ping": grpc.unary_unary_rpc_method_handler(ping),
            "Hold": grpc.unary_stream_rpc_method_handler(hold_open),
        },
    )
    return Registration(
        lambda servicer, server: server.add_generic_rpc_handlers((handler,)), None, SERVICE
    )


class Probes:
    """One health, served over HTTP and gRPC on loopback."""

    def __init__(self, health: Health, max_streams: int = 4) -> None:
        self.release = threading.Event()
        settings = GrpcSettings(
            host="127.0.0.1", port=0, max_workers=2, grace_s=0.5, plaintext=True
        )
        self.grpc = GrpcServer(
            settings,
            [echo_registration(self.release)],
            health=health,
            max_streams=max_streams,
            health_period_s=0.05,
        ).start()
        self.http = ProbeServer(health, "127.0.0.1", 0).start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc.port}")
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def http_status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http.port}{path}", timeout=5):
                return 200
        except urllib.error.HTTPError as error:
            json.loads(error.read())
            return error.code

    def grpc_status(self, service: str) -> int:
        request = health_pb2.HealthCheckRequest(service=service)
        return self.health.Check(request, timeout=1).status

    def statuses(self) -> dict[str, int]:
        return {name: self.grpc_status(name) for name in ("", SERVICE, LIVENESS)}

    def close(self) -> None:
        self.release.set()
        self.channel.close()
        self.grpc.stop()
        self.http.stop()


@pytest.fixture
def stuck_stage() -> Iterator[tuple[Health, InMemoryBus, threading.Event, threading.Event]]:
    """A runner whose handler blocks on the message ``stick`` until ``unstick`` is set."""
    bus = InMemoryBus()
    health = Health(liveness_timeout_s=0.5)
    stuck, unstick = threading.Event(), threading.Event()

    def handle(value: bytes, message: Message) -> list[Output]:
        if value == b"stick":
            stuck.set()
            unstick.wait(30)
        return []

    stage = Stage(name="sticky", topics=[IN], group_id="g", decode=lambda m: m.value, handle=handle)
    runner = StageRunner(stage, bus, health, DLQ, poll_timeout_s=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield health, bus, stuck, unstick
    finally:
        unstick.set()
        stop.set()
        thread.join(10)


def test_a_stuck_loop_fails_healthz_and_grpc_health_then_recovers(
    stuck_stage: tuple[Health, InMemoryBus, threading.Event, threading.Event],
) -> None:
    health, bus, stuck, unstick = stuck_stage
    probes = Probes(health)
    try:
        wait_for("ready", lambda: probes.http_status("/readyz") == 200)
        assert probes.http_status("/healthz") == 200
        wait_for("serving", lambda: set(probes.statuses().values()) == {SERVING})

        bus.append(Output(IN, "cam-1", b"stick"))
        assert stuck.wait(5)
        wait_for("healthz failing", lambda: probes.http_status("/healthz") == 503)
        assert probes.http_status("/readyz") == 503
        wait_for("grpc failing", lambda: set(probes.statuses().values()) == {NOT_SERVING})

        unstick.set()
        wait_for("healthz back", lambda: probes.http_status("/healthz") == 200)
        wait_for("grpc back", lambda: set(probes.statuses().values()) == {SERVING})
    finally:
        probes.close()


def test_a_failing_readiness_check_fails_grpc_health_but_not_liveness() -> None:
    health = Health(liveness_timeout_s=60)
    broker_up = threading.Event()
    health.add_check("broker.reachable", broker_up.is_set)
    probes = Probes(health)
    try:
        wait_for("not ready", lambda: probes.statuses()[""] == NOT_SERVING)
        assert probes.statuses() == {"": NOT_SERVING, SERVICE: NOT_SERVING, LIVENESS: SERVING}
        assert (probes.http_status("/healthz"), probes.http_status("/readyz")) == (200, 503)
        broker_up.set()
        wait_for("serving", lambda: set(probes.statuses().values()) == {SERVING})
        assert probes.http_status("/readyz") == 200
    finally:
        probes.close()


def test_streams_beyond_the_bound_are_refused_while_unary_calls_and_health_answer() -> None:
    health = Health(liveness_timeout_s=60)
    probes = Probes(health, max_streams=4)
    hold = probes.channel.unary_stream(f"/{SERVICE}/Hold")
    ping = probes.channel.unary_unary(f"/{SERVICE}/Ping")
    try:
        streams = [hold(b"") for _ in range(4)]
        assert [next(s) for s in streams] == [b"open"] * 4  # the whole stream pool is taken
        with pytest.raises(grpc.RpcError) as refused:
            next(hold(b"", timeout=5))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for _ in range(10):  # more than the two unary workers: none waits behind a stream
            started = time.monotonic()
            assert ping(b"x", timeout=1) == b"x"
            assert probes.grpc_status("") == SERVING
            assert time.monotonic() - started < 1
        for s in streams:
            s.cancel()
        # Slots come back when streams end: a new stream is served again.
        again = wait_for("a slot back", lambda: _open_one(hold))
        again.cancel()
    finally:
        probes.close()


def _open_one(hold: Any) -> Any:
    stream = hold(b"", timeout=5)
    try:
        next(stream)
    except grpc.RpcError:
        return None
    return stream


def test_a_cached_check_is_asked_once_per_period_and_a_raise_counts_as_failing() -> None:
    now = [100.0]
    answers = iter([True, RuntimeError("broker gone"), True])
    asked = []

    def probe() -> bool:
        asked.append(now[0])
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    check = CachedCheck(probe, ttl_s=5, clock=lambda: now[0])
    assert check() and check()
    now[0] += 4.9
    assert check()
    now[0] += 0.1
    assert not check()
    now[0] += 1
    assert not check(), "the failure is cached too"
    now[0] += 5
    assert check()
    assert asked == [100.0, 105.0, 111.0]
