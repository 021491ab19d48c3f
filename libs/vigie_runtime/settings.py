"""Settings shared by every service: where the broker is, where to serve probes, how to log.

Each service subclasses :class:`ServiceSettings` with its own fields. Values come from, in order
of precedence: environment variables (``VIGIE_KAFKA__BOOTSTRAP_SERVERS=...``), then the YAML file
given with ``--config`` (or ``VIGIE_CONFIG``), then defaults. Unknown keys are errors, not typos
silently ignored, and every error names the file, line and key.
"""

from __future__ import annotations

import contextvars
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from vigie_runtime.yamlconf import ConfigError, Location, format_validation_error, read_yaml

S = TypeVar("S", bound="ServiceSettings")

_yaml_data: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "vigie_yaml_settings", default=None
)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSettings(StrictModel):
    bootstrap_servers: str = "127.0.0.1:19092"
    # Kafka's defaults suit production; the development broker needs short sessions in tests.
    session_timeout_ms: int = Field(45000, ge=1000)
    heartbeat_interval_ms: int = Field(3000, ge=100)
    auto_commit_interval_ms: int = Field(1000, ge=100)
    # How long the broker may hold a fetch when a partition has nothing new: the floor of
    # each stage's latency at camera rates (librdkafka's default is 500 ms).
    fetch_wait_max_ms: int = Field(50, ge=1, le=10_000)
    # The same for the groups off the path to the alert (the topology's ``live=False``: the
    # archive, snapshots, camera heartbeats). On the development broker every held fetch costs
    # CPU: measured on bench-e2e, this one setting took the broker from 30 to 22 ms of CPU per
    # frame (11 with every group at 500 ms, which the live path cannot afford: see README).
    background_fetch_wait_max_ms: int = Field(500, ge=1, le=10_000)
    # The development broker reports wrong high-watermarks for multi-record batches; one record
    # per batch keeps lag figures right there. Leave off against real Kafka.
    single_record_batches: bool = False
    # How often each consumer reports its lag per partition (vigie_consumer_lag); 0: never.
    stats_interval_ms: int = Field(15_000, ge=0, le=3_600_000)
    # Anything else librdkafka understands (security.protocol, sasl.*, ...), passed through.
    extra: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> KafkaSettings:
        # A member that heartbeats less often than its session lasts is evicted in a loop.
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError(
                f"heartbeat_interval_ms ({self.heartbeat_interval_ms}) must be below "
                f"session_timeout_ms ({self.session_timeout_ms}); a third of it is usual"
            )
        return self


class HttpSettings(StrictModel):
    """Probes (/healthz, /readyz) and Prometheus metrics (/metrics) on one port; 0 = any free."""

    host: str = "0.0.0.0"
    port: int = Field(9400, ge=0, le=65535)


class TlsSettings(StrictModel):
    """A gRPC server's certificate from files (a mounted secret), re-read when they change.

    ``client_ca_file``: the CA that signs client certificates; with ``require_client_cert`` a
    client without one is refused (mutual TLS). ``ca_file``: the CA that signs the servers'
    certificates, trusted by the clients the service runs itself (alerting replicas forwarding
    desk calls); none: the system's roots. ``server_name``: the name those clients expect in a
    server's certificate when they reach it by address (a pod IP).
    """

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    require_client_cert: bool = False
    ca_file: Path | None = None
    server_name: str = ""
    # The files are looked at, at most once in this many seconds, at a new connection.
    reload_check_s: float = Field(5.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _client_ca_for_mutual_tls(self) -> TlsSettings:
        if self.require_client_cert and self.client_ca_file is None:
            raise ValueError("require_client_cert needs client_ca_file, the CA of the clients")
        return self


class GrpcSettings(StrictModel):
    """Where and how a service serves gRPC. TLS (``tls``) or, for local development only,
    ``plaintext: true``: a server with neither refuses to start, so no deployment runs
    unencrypted by omission."""

    host: str = "0.0.0.0"
    port: int = Field(50051, ge=0, le=65535)
    max_workers: int = Field(8, ge=1)
    max_message_mb: int = Field(8, ge=1, le=64)
    grace_s: float = Field(5.0, ge=0)
    tls: TlsSettings | None = None
    plaintext: bool = False

    @model_validator(mode="after")
    def _one_transport(self) -> GrpcSettings:
        if self.tls is not None and self.plaintext:
            raise ValueError("grpc.tls and grpc.plaintext: true exclude each other; choose one")
        return self

    def require_transport(self) -> None:
        """Refuse to serve or call without a transport chosen on purpose."""
        if self.tls is None and not self.plaintext:
            raise ConfigError(
                "grpc: no transport configured: set grpc.tls.cert_file and grpc.tls.key_file "
                "(VIGIE_GRPC__TLS__CERT_FILE, VIGIE_GRPC__TLS__KEY_FILE), or grpc.plaintext: "
                "true (VIGIE_GRPC__PLAINTEXT=true) for local development only"
            )


class TimeBounds(StrictModel):
    """How far a message's time may stray from the clocks that carried it before a stage
    refuses it (to the dead-letter topic, with the reason). A message's time is data from its
    producer: one stamped far ahead would move its camera's clock there and make every later
    message look stale.

    ``max_future_s``: how far ahead of this stage's clock, and of the record's timestamp
    (when its producer created it), a time may be: the clock skew tolerated between hosts.
    Captured times are never ahead of the capture host's clock, fast replays included.
    ``max_past_s``: how far behind the record's timestamp a time may be: the longest backlog
    a stage is expected to catch up on (a stage that was down that long).
    """

    max_future_s: float = Field(10.0, gt=0, le=86_400)
    max_past_s: float = Field(7 * 86_400.0, gt=0, le=366 * 86_400)


class TracingSettings(StrictModel):
    """OpenTelemetry traces, exported over OTLP/gRPC (see :mod:`vigie_runtime.tracing`)."""

    enabled: bool = False
    # A collector's OTLP/gRPC address (host:port, or http(s)://host:port).
    otlp_endpoint: str = "127.0.0.1:4317"
    # No TLS to the collector: a sidecar or node-local collector. False: TLS, system roots.
    insecure: bool = True
    # Share of new traces (frames) sampled; the decision travels with the trace.
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    # Extra resource attributes (deployment.environment, k8s.pod.name, ...).
    attributes: dict[str, str] = Field(default_factory=dict)


class _YamlSource(PydanticBaseSettingsSource):
    """Feeds the YAML file's mapping in below the environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VIGIE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    log_level: str = "INFO"
    log_json: bool = True
    # Consumer group of the service; replicas sharing it share the partitions.
    group_id: str = ""
    dead_letter_topic: str = "vigie.dead-letters.v1"
    max_batch: int = Field(64, ge=1, le=10_000)
    time: TimeBounds = Field(default_factory=TimeBounds)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    # A loop that has not turned for this long fails liveness (/healthz and gRPC health), so
    # the orchestrator restarts a process that is stuck rather than one that is only slow.
    liveness_timeout_s: float = Field(60.0, ge=5, le=3600)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


def _environment_origins(cls: type[ServiceSettings]) -> dict[Location, str]:
    """Key paths set by ``VIGIE_*`` variables, so their errors name the variable, not a line."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    delimiter = str(cls.model_config.get("env_nested_delimiter") or "__")
    origins: dict[Location, str] = {}
    for name in os.environ:
        if prefix and name.upper().startswith(prefix) and name.upper() != f"{prefix}CONFIG":
            path = tuple(part.lower() for part in name[len(prefix) :].split(delimiter))
            origins[path] = f"environment {name}"
    return origins


def load_settings(cls: type[S], path: Path | None = None, **overrides: Any) -> S:
    """Build ``cls`` from the YAML file (if any), the environment and explicit overrides."""
    data: dict[str, Any] = {}
    lines: dict[Location, int] = {}
    if path is not None:
        data, lines = read_yaml(path)
    token = _yaml_data.set(data)
    try:
        return cls(**overrides)
    except ValidationError as exc:
        origins = _environment_origins(cls)
        origins.update({(key,): "command line" for key in overrides})
        raise ConfigError(format_validation_error(exc, path, lines, origins)) from None
    finally:
        _yaml_data.reset(token)
