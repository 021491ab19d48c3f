"""The alert policy file a site writes, validated line by line, turned into the core's policy.

Shape::

    version: "2026-11-22.1"             # travels on every alert it grants; journaled on load
    timezone: Europe/Paris              # for the authorised hours; default UTC
    default:                            # cameras not listed below; absent = they signal nothing
      zone_intrusion: {severity: high}
    cameras:
      gate:
        zone_intrusion: {severity: high, retention_days: 30,
                         hours: [{days: [mon, tue, wed, thu, fri], start: "22:00", end: "06:00"}]}
        loitering: {severity: low}
    suppressions:                       # maintenance, drills: not alerted, journaled with reason
      - {start: "2026-11-23T08:00:00+01:00", end: "2026-11-23T10:00:00+01:00",
         reason: "lens cleaning", cameras: [gate], kinds: [], zones: []}
    escalation:                         # unacknowledged this long (s) at a severity: one level up
      after_s: {critical: 60, high: 120, medium: 300}
    cooldown_s: 60                      # repeats of one kind and zone merge within this
    routes:                             # per-audience topics, besides vigie.alerts.v1
      - {topic: vigie.alerts.security.v1, min_severity: high}
      - {topic: vigie.alerts.crowd.v1, kinds: [crowd_density, crowd_movement]}
    webhooks:
      - {name: soc, url: "https://soc.example/hooks/vigie", secret_env: VIGIE_WEBHOOK_SOC,
         min_severity: high, timeout_s: 5, attempts: 5, backoff_s: 1}

Without a file the built-in :data:`DEFAULT_POLICY_YAML` applies: every camera may signal the
safety events of the catalogue, and none of the counts, footfall or emotion figures.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from vigie_core.alerting.policy import (
    AlertPolicy,
    CameraPolicy,
    KindPolicy,
    Suppression,
    severity_rank,
)
from vigie_core.schedule import DAYS, Schedule, TimeWindow, parse_clock
from vigie_core.types import Alert, EventKind, Severity
from vigie_runtime.yamlconf import load_model

_STRICT = ConfigDict(extra="forbid", frozen=True)
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _topic(name: str) -> str:
    if not _TOPIC.match(name):
        raise ValueError(f"{name!r} is not a valid Kafka topic name")
    return name


class HoursConfig(BaseModel):
    model_config = _STRICT

    days: list[str] = Field(default_factory=lambda: list(DAYS))
    start: str
    end: str

    def to_window(self) -> TimeWindow:
        return TimeWindow(
            frozenset(self.days), parse_clock(self.start, "start"), parse_clock(self.end, "end")
        )


class KindConfig(BaseModel):
    model_config = _STRICT

    severity: Severity
    hours: list[HoursConfig] = Field(default_factory=list)
    retention_days: int = Field(30, ge=1, le=3650)

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, hours: list[HoursConfig]) -> list[HoursConfig]:
        for window in hours:
            window.to_window()  # raises with the reason, reported at `hours`
        return hours

    def to_policy(self, timezone: str) -> KindPolicy:
        windows = Schedule(tuple(h.to_window() for h in self.hours), timezone)
        return KindPolicy(self.severity, windows, self.retention_days)


CameraConfig = dict[EventKind, KindConfig]


class SuppressionConfig(BaseModel):
    model_config = _STRICT

    start: datetime
    end: datetime
    reason: str = Field(min_length=1)
    cameras: list[str] = Field(default_factory=list)
    kinds: list[EventKind] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time zone (e.g. 2026-11-23T08:00:00+01:00 or ...Z)")
        return value

    def to_suppression(self) -> Suppression:
        return Suppression(
            self.start.timestamp(),
            self.end.timestamp(),
            self.reason,
            frozenset(self.cameras),
            frozenset(self.kinds),
            frozenset(self.zones),
        )


class EscalationConfig(BaseModel):
    model_config = _STRICT

    after_s: dict[Severity, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {
            Severity.CRITICAL: 60.0,
            Severity.HIGH: 120.0,
            Severity.MEDIUM: 300.0,
        }
    )


class AudienceFilter(BaseModel):
    """Which alerts an audience wants: at least this severity, of these kinds, at these
    cameras (empty lists: all)."""

    model_config = _STRICT

    min_severity: Severity = Severity.INFO
    kinds: list[EventKind] = Field(default_factory=list)
    cameras: list[str] = Field(default_factory=list)

    def wants(self, alert: Alert) -> bool:
        return (
            severity_rank(alert.severity) >= severity_rank(self.min_severity)
            and (not self.kinds or alert.kind in self.kinds)
            and (not self.cameras or alert.camera_id in self.cameras)
        )


class RouteConfig(AudienceFilter):
    """Alerts the filter wants also go to ``topic``."""

    topic: Annotated[str, AfterValidator(_topic)]


class WebhookConfig(AudienceFilter):
    """An HTTP receiver; requests are signed per Standard Webhooks (``docs/webhooks.md``) with
    the secret (``whsec_<base64>``) in the environment variable ``secret_env``, and also with
    the one in ``previous_secret_env`` while a key rotation is under way."""

    name: Annotated[str, AfterValidator(lambda n: n if _NAME.match(n) else _bad_name(n))]
    url: str = Field(pattern=r"^https?://")
    secret_env: str = Field(min_length=1)
    previous_secret_env: str | None = Field(None, min_length=1)
    # The deprecated X-Vigie-* headers, for receivers written against the former scheme.
    legacy_headers: bool = True
    timeout_s: float = Field(5.0, gt=0, le=60)
    attempts: int = Field(5, ge=1, le=20)
    backoff_s: float = Field(1.0, gt=0, le=300)
    # Alert states published longer ago than this are not sent: a receiver added to a running
    # site gets what happens from now on, not the topic's whole history.
    max_age_s: float = Field(3600.0, gt=0)


def _bad_name(name: str) -> str:
    raise ValueError(f"{name!r}: use letters, digits, '.', '_' or '-' (64 at most)")


class PolicyFile(BaseModel):
    model_config = _STRICT

    version: str = Field(min_length=1)
    timezone: str = "UTC"
    default: CameraConfig | None = None
    cameras: dict[str, CameraConfig] = Field(default_factory=dict)
    suppressions: list[SuppressionConfig] = Field(default_factory=list)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    cooldown_s: float = Field(60.0, ge=0)
    routes: list[RouteConfig] = Field(default_factory=list)
    webhooks: list[WebhookConfig] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, timezone: str) -> str:
        Schedule((), timezone)  # raises on an unknown IANA name
        return timezone

    @field_validator("suppressions")
    @classmethod
    def _ordered(cls, suppressions: list[SuppressionConfig]) -> list[SuppressionConfig]:
        for s in suppressions:
            s.to_suppression()  # end after start, a reason
        return suppressions

    @field_validator("webhooks")
    @classmethod
    def _unique_names(cls, webhooks: list[WebhookConfig]) -> list[WebhookConfig]:
        names = [w.name for w in webhooks]
        if len(set(names)) != len(names):
            raise ValueError(f"webhook names must be unique, got {names}")
        return webhooks

    def to_policy(self) -> AlertPolicy:
        def camera(config: CameraConfig) -> CameraPolicy:
            return CameraPolicy({k: v.to_policy(self.timezone) for k, v in config.items()})

        return AlertPolicy(
            version=self.version,
            cameras={cam: camera(cfg) for cam, cfg in self.cameras.items()},
            default=camera(self.default) if self.default is not None else None,
            suppressions=tuple(s.to_suppression() for s in self.suppressions),
        )


DEFAULT_POLICY_YAML = """\
# Built in: applies when no policy file is given. Every camera may signal the safety events of
# the catalogue; counts, footfall, removals and emotion figures are metrics, never alerts.
version: builtin-1
default:
  zone_intrusion: {severity: high}
  abandoned_object: {severity: high}
  person_down: {severity: critical}
  fire: {severity: critical}
  smoke: {severity: high}
  weapon: {severity: critical}
  wrong_way: {severity: medium}
  loitering: {severity: low}
  crowd_density: {severity: high}
  crowd_movement: {severity: high}
  stopped_vehicle: {severity: medium}
  # Technical: capture's watch raises these when a camera stops delivering frames.
  camera_stalled: {severity: high}
  camera_offline: {severity: high}
"""


class LoadedPolicy(BaseModel):
    """A policy as read, with where it came from and its digest, for the journal."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    file: PolicyFile
    source: str
    sha256: str


def load_policy(path: Path | None, inline: PolicyFile | None = None) -> LoadedPolicy:
    """The policy at ``path``, or given inline in the settings, or the built-in one. Raises
    ``ConfigError`` with the bad line."""
    if inline is not None:
        text = inline.model_dump_json()
        digest = hashlib.sha256(text.encode()).hexdigest()
        return LoadedPolicy(file=inline, source="settings", sha256=digest)
    if path is None:
        parsed = PolicyFile.model_validate(yaml.safe_load(DEFAULT_POLICY_YAML))
        digest = hashlib.sha256(DEFAULT_POLICY_YAML.encode()).hexdigest()
        return LoadedPolicy(file=parsed, source="builtin", sha256=digest)
    parsed = load_model(path, PolicyFile)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return LoadedPolicy(file=parsed, source=str(path), sha256=digest)
