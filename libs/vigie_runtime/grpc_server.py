"""gRPC servers with the stock health service, reflection, size limits and graceful stop.

Kubernetes probes the standard ``grpc.health.v1`` service; reflection lets operators use
grpcurl against any Vigie server without the proto files.

A server speaks TLS with the certificates of ``grpc.tls`` (reloaded when their files change,
see :mod:`vigie_runtime.tls`), or plaintext when ``grpc.plaintext`` says so for local
development; with neither it refuses to start with a configuration error. Kubernetes' gRPC
probes cannot speak TLS, so the manifests probe the HTTP ``/healthz``, which follows the same
:class:`Health` as the ``liveness`` name here.

Health here tells what the HTTP probes tell: given the service's :class:`Health`, every name
(the overall ``""`` and each registered service) is SERVING only while the loop turns and
every readiness check passes, and ``liveness`` follows the loop alone, for a liveness probe
that must not restart a pod because its broker is away. Unary calls, streams and health run in
pools of their own (:mod:`vigie_runtime.grpc_pools`), so no stream can starve the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health as grpc_health
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vigie_runtime import tracing
from vigie_runtime.grpc_pools import ServerPools
from vigie_runtime.health import Health
from vigie_runtime.settings import GrpcSettings
from vigie_runtime.tls import ServerCertificates, server_credentials

log = logging.getLogger(__name__)

LIVENESS = "liveness"  # a health name that follows the loop only, not readiness
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass(frozen=True)
class Registration:
    """One servicer: ``add`` is the generated ``add_XServicer_to_server``."""

    add: Callable[[Any, grpc.Server], None]
    servicer: Any
    full_name: str  # e.g. "vigie.v1.AlertDesk"


class HealthFollower:
    """Keeps the health servicer's statuses equal to what ``Health`` says, every ``period_s``.

    A thread of its own: a Check answers from memory at once, and a readiness check that
    takes its time (a broker probe) delays nothing but the next update.
    """

    def __init__(
        self,
        servicer: grpc_health.HealthServicer,
        source: Health,
        names: Sequence[str],
        period_s: float,
    ) -> None:
        self.servicer = servicer
        self.source = source
        self.names = [*names, ""]
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="grpc-health", daemon=True)

    def refresh(self) -> None:
        alive = self.source.alive()
        ready = alive and all(self.source.readiness().values())
        self.servicer.set(LIVENESS, SERVING if alive else NOT_SERVING)
        for name in self.names:
            self.servicer.set(name, SERVING if ready else NOT_SERVING)

    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.refresh()
            except Exception:  # a broken check must not end the updates: it is NOT_SERVING
                log.exception("health update failed")
                for name in [*self.names, LIVENESS]:
                    self.servicer.set(name, NOT_SERVING)


class GrpcServer:
    """One service's gRPC server.

    ``health``: the service's probes' state, which gRPC health then follows; without it every
    name is SERVING from start to stop (tests, tools). ``max_streams``: streams served at once
    by this server, in their own pool (default: as many as unary workers, the concurrency a
    server had when both shared one pool); one more is refused with RESOURCE_EXHAUSTED.
    """

    def __init__(
        self,
        settings: GrpcSettings,
        registrations: Sequence[Registration],
        health: Health | None = None,
        max_streams: int | None = None,
        health_period_s: float = 1.0,
    ) -> None:
        settings.require_transport()  # before any thread or port is taken
        limit = settings.max_message_mb * 1024 * 1024
        self.settings = settings
        self.pools = ServerPools(settings.max_workers, max_streams or settings.max_workers)
        self.server = grpc.server(
            self.pools.unary,
            # The router runs each call in its pool; the span opens there, around the call.
            interceptors=[self.pools.router, tracing.ServerTracing()],
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                # gRPC shares a port with any process that asks by default: a second replica
                # given the same port would take half the calls silently. Refuse instead.
                ("grpc.so_reuseport", 0),
            ],
        )
        self.health = grpc_health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [r.full_name for r in registrations]
        for r in registrations:
            r.add(r.servicer, self.server)
        reflection.enable_server_reflection(
            [*names, grpc_health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        self.certificates: ServerCertificates | None = None
        address = f"{settings.host}:{settings.port}"
        if settings.tls is not None:
            credentials, self.certificates = server_credentials(settings.tls)
            self.port = self.server.add_secure_port(address, credentials)
        else:
            self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot bind gRPC port {settings.host}:{settings.port}")
        self._names = names
        self._follower = (
            HealthFollower(self.health, health, names, health_period_s)
            if health is not None
            else None
        )

    def start(self) -> GrpcServer:
        self.server.start()
        if self._follower is not None:
            self._follower.start()
        else:
            for name in [*self._names, "", LIVENESS]:
                self.health.set(name, SERVING)
        transport = "plaintext" if self.certificates is None else "tls"
        log.info(
            "gRPC listening",
            extra={"grpc_port": self.port, "services": self._names, "transport": transport},
        )
        return self

    def __enter__(self) -> GrpcServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Report NOT_SERVING first so balancers drain, then let calls in flight finish."""
        if self._follower is not None:
            self._follower.stop()
        self.health.enter_graceful_shutdown()
        self.server.stop(self.settings.grace_s).wait()
        self.pools.shutdown()
