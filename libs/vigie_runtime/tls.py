"""TLS for the gRPC servers and the clients Vigie runs itself, from files that can be rotated.

Certificates come from files (in Kubernetes, a secret mounted as files), so rotating one is a
change of files, not a restart: the server re-reads them through gRPC's dynamic credentials,
whose fetch callback is asked at each new handshake. The files are read at most once every
``reload_check_s``, and a new pair is taken only once it loads as a matching certificate and
key, so a rotation caught half-written keeps the previous pair instead of breaking handshakes.
Connections already open keep the certificate they were made with.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from vigie_runtime.settings import GrpcSettings, TlsSettings
from vigie_runtime.yamlconf import ConfigError

log = logging.getLogger(__name__)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"grpc.tls.{what}: cannot read {path}: {exc.strerror}") from exc


def _check_pair(cert_file: Path, key_file: Path) -> None:
    """Loading the pair the way OpenSSL does tells a mismatched or truncated pair at once."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"grpc.tls: {cert_file} and {key_file} are not a usable certificate and key: {exc}"
        ) from exc


class ServerCertificates:
    """The server's certificate, key and client CA, re-read when the files change."""

    def __init__(self, tls: TlsSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.tls = tls
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at = clock()
        self._digest, self.current = self._load()

    def _files(self) -> list[tuple[Path, str]]:
        files = [(self.tls.cert_file, "cert_file"), (self.tls.key_file, "key_file")]
        if self.tls.client_ca_file is not None:
            files.append((self.tls.client_ca_file, "client_ca_file"))
        return files

    def _fingerprint(self) -> tuple[str, list[bytes]]:
        contents = [_read(path, what) for path, what in self._files()]
        return hashlib.sha256(b"\0".join(contents)).hexdigest(), contents

    def _load(self) -> tuple[str, grpc.ServerCertificateConfiguration]:
        digest, contents = self._fingerprint()
        _check_pair(self.tls.cert_file, self.tls.key_file)
        again, contents = self._fingerprint()
        if again != digest:  # replaced while being checked: the next look takes it
            raise ConfigError("grpc.tls: the certificate files changed while being read")
        cert, key = contents[0], contents[1]
        client_ca = contents[2] if len(contents) > 2 else None
        config = grpc.ssl_server_certificate_configuration([(key, cert)], client_ca)
        return digest, config

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's fetch callback: a new configuration when the files changed, else None."""
        with self._lock:
            now = self._clock()
            if now - self._checked_at < self.tls.reload_check_s:
                return None
            self._checked_at = now
            try:
                digest, _ = self._fingerprint()
                if digest == self._digest:
                    return None
                self._digest, self.current = self._load()
            except ConfigError as exc:
                log.error(
                    "TLS certificates not reloaded; the previous ones are kept",
                    extra={"error": str(exc)},
                )
                return None
            except Exception:  # an exception here would fail the client's handshake
                log.exception("TLS certificates not reloaded; the previous ones are kept")
                return None
            log.info("TLS certificates reloaded", extra={"cert_file": str(self.tls.cert_file)})
            return self.current


def server_credentials(tls: TlsSettings) -> tuple[grpc.ServerCredentials, ServerCertificates]:
    """Credentials that follow the files, and the object that watches them."""
    certificates = ServerCertificates(tls)
    credentials = grpc.dynamic_ssl_server_credentials(
        certificates.current,
        certificates.fetch,
        require_client_authentication=tls.require_client_cert,
    )
    return credentials, certificates


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials:
    """What a client run by Vigie presents: the CA that signs the servers' certificates (system
    roots when none is given) and, when the servers ask for one, this service's own pair."""
    ca = _read(tls.ca_file, "ca_file") if tls.ca_file is not None else None
    if tls.client_ca_file is not None:  # the servers check clients: present our pair
        return grpc.ssl_channel_credentials(
            ca, _read(tls.key_file, "key_file"), _read(tls.cert_file, "cert_file")
        )
    return grpc.ssl_channel_credentials(ca)


def _transport(
    settings: GrpcSettings,
) -> tuple[grpc.ChannelCredentials | None, list[tuple[str, str]]]:
    """(credentials, options) of a client channel; no credentials: plaintext, allowed only
    when chosen on purpose."""
    if settings.tls is None:
        settings.require_transport()
        return None, []
    options = []
    if settings.tls.server_name:
        options.append(("grpc.ssl_target_name_override", settings.tls.server_name))
    return channel_credentials(settings.tls), options


def channel(address: str, settings: GrpcSettings) -> grpc.Channel:
    """A channel to another Vigie gRPC server with this service's transport settings."""
    credentials, options = _transport(settings)
    if credentials is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, credentials, options=options)


def aio_channel(address: str, settings: GrpcSettings) -> grpc.aio.Channel:
    """The same as :func:`channel`, for asyncio code (the console's web server)."""
    credentials, options = _transport(settings)
    if credentials is None:
        return grpc.aio.insecure_channel(address)
    return grpc.aio.secure_channel(address, credentials, options=options)
