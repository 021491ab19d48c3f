"""An Archive gRPC server on loopback over a given servicer, and the callers the archive tests
use: one place for what every Archive integration test sets up the same way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest

from vigie.v1 import services_pb2_grpc
from vigie_runtime.auth import Authenticator, Role, TokenEntry, digest
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.settings import GrpcSettings

OPERATOR = [("authorization", "Bearer ana-token"), ("x-request-id", "req-7")]
AUDITOR = [("authorization", "Bearer dpo-token")]


def callers() -> Authenticator:
    """ana, an operator, and dpo, an auditor."""
    return Authenticator(
        [
            TokenEntry(sha256=digest("ana-token"), operator="ana", role=Role.OPERATOR),
            TokenEntry(sha256=digest("dpo-token"), operator="dpo", role=Role.AUDITOR),
        ]
    )


@contextmanager
def archive_stub(
    servicer: services_pb2_grpc.ArchiveServicer,
) -> Iterator[services_pb2_grpc.ArchiveStub]:
    server = GrpcServer(
        GrpcSettings(host="127.0.0.1", port=0, grace_s=0, plaintext=True),
        [
            Registration(
                services_pb2_grpc.add_ArchiveServicer_to_server, servicer, "vigie.v1.Archive"
            )
        ],
    ).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield services_pb2_grpc.ArchiveStub(channel)
    finally:
        server.stop()


def code_of(call: object, request: object, metadata: object = OPERATOR) -> grpc.StatusCode:
    """The status a call that must fail ends with."""
    with pytest.raises(grpc.RpcError) as error:
        call(request, metadata=metadata)  # type: ignore[operator]
    return error.value.code()
