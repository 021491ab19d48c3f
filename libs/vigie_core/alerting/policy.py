"""Authorisation as data: which events may become alerts, per camera, and on what terms.

The law (and each site's own rules) decides what algorithmic surveillance may signal, where and
when. The policy says it per camera: which event kinds, in which weekly windows, with which
severity and how long the alert may be kept. Anything the policy does not grant is refused, and
the refusal carries a sentence an auditor can read. Suppressions (maintenance on a camera, a
rehearsal in a zone) are part of the policy too, with their own reason and end.

A camera not listed falls back to ``default``; with no default it may signal nothing. The policy
has a ``version`` that travels on every alert it granted, so an auditor can tell which rules were
in force.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from vigie_core.schedule import ALWAYS, Schedule
from vigie_core.types import Event, EventKind, Severity

SEVERITY_ORDER = (
    Severity.INFO,
    Severity.LOW,
    Severity.MEDIUM,
    Severity.HIGH,
    Severity.CRITICAL,
)


def severity_rank(severity: Severity) -> int:
    return SEVERITY_ORDER.index(Severity(severity))


@dataclass(frozen=True, slots=True)
class KindPolicy:
    """The terms on which one event kind may be signalled at a camera."""

    severity: Severity
    windows: Schedule = ALWAYS
    retention_days: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        if self.retention_days < 1:
            raise ValueError(f"retention_days must be >= 1, got {self.retention_days}")


@dataclass(frozen=True, slots=True)
class CameraPolicy:
    """What one camera may signal. Kinds absent from ``kinds`` are refused."""

    kinds: Mapping[EventKind, KindPolicy]

    def __post_init__(self) -> None:
        normalised = {EventKind(k): v for k, v in self.kinds.items()}
        object.__setattr__(self, "kinds", MappingProxyType(normalised))


@dataclass(frozen=True, slots=True)
class Suppression:
    """A period when matching events are not alerted (maintenance, a drill), with its reason.

    Empty ``cameras``, ``kinds`` or ``zones`` match everything of that dimension.
    """

    start: float
    end: float
    reason: str
    cameras: frozenset[str] = frozenset()
    kinds: frozenset[EventKind] = frozenset()
    zones: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.end <= self.start:
            raise ValueError(f"a suppression must end after it starts ({self.start}..{self.end})")
        if not self.reason.strip():
            raise ValueError("a suppression needs a reason")
        object.__setattr__(self, "kinds", frozenset(EventKind(k) for k in self.kinds))

    def covers(self, event: Event) -> bool:
        return (
            self.start <= event.occurred_at < self.end
            and (not self.cameras or event.camera_id in self.cameras)
            and (not self.kinds or event.kind in self.kinds)
            and (not self.zones or event.zone in self.zones)
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """The policy's yes: with which severity, under which policy version, kept how long."""

    severity: Severity
    policy_version: str
    retention_days: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """The policy's no, in words for the journal."""

    reason: str
    policy_version: str


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    version: str
    cameras: Mapping[str, CameraPolicy] = field(default_factory=dict)
    default: CameraPolicy | None = None
    suppressions: tuple[Suppression, ...] = ()

    def __post_init__(self) -> None:
        if not self.version.strip():
            raise ValueError("a policy needs a version")
        object.__setattr__(self, "cameras", MappingProxyType(dict(self.cameras)))

    def for_camera(self, camera_id: str) -> CameraPolicy | None:
        return self.cameras.get(camera_id, self.default)

    def decide(self, event: Event) -> Grant | Refusal:
        """Grant or refuse one event; the first reason that applies is the one recorded."""
        version = self.version
        camera = self.for_camera(event.camera_id)
        if camera is None:
            return Refusal(f"camera {event.camera_id} has no alert policy", version)
        terms = camera.kinds.get(event.kind)
        if terms is None:
            return Refusal(
                f"{event.kind} is not an authorised alert at camera {event.camera_id}", version
            )
        if not terms.windows.active_at(event.occurred_at):
            return Refusal(
                f"{event.kind} at camera {event.camera_id} is outside its authorised hours",
                version,
            )
        for suppression in self.suppressions:
            if suppression.covers(event):
                return Refusal(f"suppressed: {suppression.reason}", version)
        return Grant(terms.severity, version, terms.retention_days)
