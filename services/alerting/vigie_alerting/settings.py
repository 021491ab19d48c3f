"""Alerting settings: which event kinds become alerts, how severe, and the dedup cooldown."""

from __future__ import annotations

from pydantic import Field

from vigie_core.types import EventKind, Severity
from vigie_runtime.settings import GrpcSettings, HttpSettings, ServiceSettings


class AlertingSettings(ServiceSettings):
    group_id: str = "vigie-alerting"
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=9405))
    grpc: GrpcSettings = Field(default_factory=lambda: GrpcSettings(port=50052))
    # Kinds absent from this map are not alerted (line crossings are counts, not alarms).
    severities: dict[EventKind, Severity] = Field(
        default_factory=lambda: {EventKind.ZONE_INTRUSION: Severity.HIGH}
    )
    # Repeats of one kind at one camera and zone within this many seconds merge into one alert.
    cooldown_s: float = Field(60.0, ge=0)
