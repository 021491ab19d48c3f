"""gRPC servers with the stock health service, reflection, size limits and graceful stop.

Kubernetes probes the standard ``grpc.health.v1`` service; reflection lets operators use
grpcurl against any Vigie server without the proto files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vigie_runtime.settings import GrpcSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    """One servicer: ``add`` is the generated ``add_XServicer_to_server``."""

    add: Callable[[Any, grpc.Server], None]
    servicer: Any
    full_name: str  # e.g. "vigie.v1.AlertDesk"


class GrpcServer:
    def __init__(self, settings: GrpcSettings, registrations: Sequence[Registration]) -> None:
        limit = settings.max_message_mb * 1024 * 1024
        self.settings = settings
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.max_workers),
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
            ],
        )
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [r.full_name for r in registrations]
        for r in registrations:
            r.add(r.servicer, self.server)
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        self.port = self.server.add_insecure_port(f"{settings.host}:{settings.port}")
        if self.port == 0:
            raise OSError(f"cannot bind gRPC port {settings.host}:{settings.port}")
        self._names = names

    def start(self) -> GrpcServer:
        self.server.start()
        for name in [*self._names, ""]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("gRPC listening", extra={"grpc_port": self.port, "services": self._names})
        return self

    def __enter__(self) -> GrpcServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Report NOT_SERVING first so balancers drain, then let calls in flight finish."""
        self.health.enter_graceful_shutdown()
        self.server.stop(self.settings.grace_s).wait()
