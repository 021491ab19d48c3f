"""gRPC over TLS with a CA made for the test: who gets in, who does not, and rotation.

A real :class:`GrpcServer` (the health service every Vigie server carries) and the AlertDesk
reached through the channel the alerting replicas use to forward calls to each other.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.grpc.certs import Authority, Pair
from vigie_alerting.peers import peer_channel
from vigie_runtime import tls
from vigie_runtime.grpc_server import GrpcServer
from vigie_runtime.settings import GrpcSettings, TlsSettings
from vigie_runtime.yamlconf import ConfigError

pytestmark = pytest.mark.integration

# One connection per channel: no subchannel shared with another channel of this process, so
# each channel below makes its own handshake.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


@pytest.fixture()
def ca(tmp_path: Path) -> Authority:
    return Authority.create(tmp_path, "first")


def serving(settings: GrpcSettings) -> GrpcServer:
    return GrpcServer(settings, []).start()


def tls_settings(server: Pair, **fields: object) -> GrpcSettings:
    return GrpcSettings(
        host="127.0.0.1",
        port=0,
        grace_s=0,
        tls=TlsSettings(cert_file=server.cert, key_file=server.key, **fields),  # type: ignore[arg-type]
    )


def check(channel: grpc.Channel) -> int:
    with channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        return reply.status


def secure(port: int, ca: Path, client: Pair | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        ca.read_bytes(),
        client.key.read_bytes() if client else None,
        client.cert.read_bytes() if client else None,
    )
    return grpc.secure_channel(f"localhost:{port}", credentials, options=OWN_CONNECTION)


def refused(channel: grpc.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        check(channel)
    return caught.value.code()  # type: ignore[attr-defined]


@pytest.fixture()
def server_of(ca: Authority) -> Iterator[object]:
    servers: list[GrpcServer] = []

    def start(settings: GrpcSettings) -> GrpcServer:
        servers.append(serving(settings))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_tls_serves_a_client_with_the_ca_and_refuses_plaintext(ca: Authority, server_of) -> None:
    server = server_of(tls_settings(ca.issue("server")))
    assert check(secure(server.port, ca.cert)) == health_pb2.HealthCheckResponse.SERVING
    plain = grpc.insecure_channel(f"127.0.0.1:{server.port}", options=OWN_CONNECTION)
    assert refused(plain) is grpc.StatusCode.UNAVAILABLE
    stranger = Authority.create(ca.folder, "stranger")  # a CA the server's certificate is not of
    assert refused(secure(server.port, stranger.cert)) is grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_refuses_a_client_without_a_certificate(ca: Authority, server_of) -> None:
    settings = tls_settings(ca.issue("server"), client_ca_file=ca.cert, require_client_cert=True)
    server = server_of(settings)
    assert refused(secure(server.port, ca.cert)) is grpc.StatusCode.UNAVAILABLE
    outsider = Authority.create(ca.folder, "outsider").issue("outsider-client")
    assert refused(secure(server.port, ca.cert, outsider)) is grpc.StatusCode.UNAVAILABLE
    client = ca.issue("client")
    assert check(secure(server.port, ca.cert, client)) == health_pb2.HealthCheckResponse.SERVING


def test_a_certificate_replaced_on_disk_is_served_without_restart(
    ca: Authority, server_of, tmp_path: Path
) -> None:
    live = Pair(tmp_path / "live.crt", tmp_path / "live.key")
    first = ca.issue("server")
    shutil.copy(first.cert, live.cert)
    shutil.copy(first.key, live.key)
    server = server_of(tls_settings(live, reload_check_s=0))
    assert check(secure(server.port, ca.cert)) == health_pb2.HealthCheckResponse.SERVING

    second_ca = Authority.create(tmp_path, "second")
    second = second_ca.issue("server-2")
    shutil.copy(second.key, live.key)  # half a rotation: a key without its certificate
    assert check(secure(server.port, ca.cert)) == health_pb2.HealthCheckResponse.SERVING
    shutil.copy(second.cert, live.cert)
    deadline = time.monotonic() + 10
    while True:  # the next handshake takes the new pair
        try:
            status = check(secure(server.port, second_ca.cert))
            break
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert status == health_pb2.HealthCheckResponse.SERVING
    assert refused(secure(server.port, ca.cert)) is grpc.StatusCode.UNAVAILABLE


def test_the_project_s_own_clients_use_the_tls_settings(ca: Authority, server_of) -> None:
    """Replicas forwarding desk calls: TLS with the CA, their own pair under mutual TLS, and the
    name the certificates carry when a peer is reached by its address."""
    pair = ca.issue("desk", sans="DNS:vigie-alerting")
    settings = tls_settings(
        pair,
        ca_file=ca.cert,
        client_ca_file=ca.cert,
        require_client_cert=True,
        server_name="vigie-alerting",
    )
    server = server_of(settings)
    assert check(peer_channel(f"127.0.0.1:{server.port}", settings)) == (
        health_pb2.HealthCheckResponse.SERVING
    )
    assert check(tls.channel(f"127.0.0.1:{server.port}", settings)) == (
        health_pb2.HealthCheckResponse.SERVING
    )


def test_neither_tls_nor_plaintext_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match=r"grpc\.plaintext: true .*local development"):
        GrpcServer(GrpcSettings(host="127.0.0.1", port=0), [])
    with pytest.raises(ConfigError, match="no transport configured"):
        tls.channel("127.0.0.1:1", GrpcSettings())


def test_unusable_certificate_files_are_a_configuration_error(ca: Authority) -> None:
    pair = ca.issue("server")
    other = ca.issue("other")
    with pytest.raises(ConfigError, match="not a usable certificate and key"):
        GrpcServer(tls_settings(Pair(pair.cert, other.key)), [])
    with pytest.raises(ConfigError, match="cannot read"):
        GrpcServer(tls_settings(Pair(pair.cert, ca.folder / "missing.key")), [])
