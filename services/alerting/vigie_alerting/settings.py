"""Alerting settings: where the alert policy and the desk's tokens are, and the desk's clock."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from vigie_alerting.policy_file import PolicyFile
from vigie_runtime.settings import GrpcSettings, HttpSettings, ServiceSettings
from vigie_runtime.topology import ALERTING


class AlertingSettings(ServiceSettings):
    # Also the stream application's id: its consumer group and the prefix of its state topics.
    group_id: str = ALERTING.group_id
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=ALERTING.http_port))
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=ALERTING.grpc()))
    # The alert policy (see policy_file.py for its shape): a file of its own, which a site
    # versions and changes without touching the rest, or inline here. Neither: the built-in one.
    policy_file: Path | None = None
    policy: PolicyFile | None = None
    # Bearer tokens of the people who may use the desk (digests only; see auth.py). None: the
    # desk refuses every call, so it never runs open by mistake.
    tokens_file: Path | None = None
    # How often unacknowledged alerts are checked for escalation and old state forgotten.
    tick_s: float = Field(1.0, gt=0, le=60)
    # How long a desk call may wait for the stream application's loop.
    desk_timeout_s: float = Field(10.0, gt=0, le=120)
    # Where the other replicas reach this replica's desk (host:port), to forward the calls
    # about cameras it owns. Empty: the gRPC host when it names one, else this machine's name,
    # with the gRPC port. In Kubernetes, the pod's IP with the gRPC port.
    desk_advertised_address: str = Field(
        "", pattern=r"^$|^[^\s:/]+:[0-9]{1,5}$|^\[[0-9a-fA-F:.]+\]:[0-9]{1,5}$"
    )
    # WatchAlerts streams: at most this many per caller (one client looping on reconnects
    # must not take the others' places), and in all on this replica. Each open stream holds one
    # thread of a pool of its own; unary calls and health are served from other pools.
    watch_streams_per_caller: int = Field(8, ge=1, le=1000)
    watch_streams_max: int = Field(256, ge=1, le=4096)
    # Memory of the desk per camera. Decided alerts stay this long (then only in the archive).
    keep_closed_s: float = Field(3600.0, ge=0, le=7 * 86_400)
    # Open alerts per camera at most: beyond, a repeat merges into its open alert and a new
    # kind or zone is refused, counted and journaled (see vigie_alerting/engine.py).
    max_open_alerts: int = Field(200, ge=1, le=100_000)
    # A camera capture last said was online or stalled, silent this long (no status heartbeat:
    # capture crashed, or cannot reach the brokers), raises camera_offline. Three of capture's
    # heartbeats (status.heartbeat_s, 10 s) by default.
    camera_silence_s: float = Field(30.0, ge=1, le=86_400)
    # Every alert also as JSON on vigie.alerts.json.v1, for consumers without protobuf.
    alerts_json_mirror: bool = False

    @model_validator(mode="after")
    def _one_policy(self) -> AlertingSettings:
        if self.policy_file is not None and self.policy is not None:
            raise ValueError("give the alert policy inline (policy) or as a file (policy_file)")
        return self
