"""Protobuf answers of the desk and the archive as plain values the templates show."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vigie.v1 import alerts_pb2, events_pb2, services_pb2, verdicts_pb2
from vigie_core.types import EventKind
from vigie_runtime import codec

SEVERITY_RANK = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
KINDS = tuple(kind.value for kind in EventKind)


def enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix).lower()
    except ValueError:
        return "unknown"


def kind_name(value: int) -> str:
    return enum_name(events_pb2.EventKind, value, "EVENT_KIND_")


def kind_number(name: str) -> int:
    return int(events_pb2.EventKind.Value("EVENT_KIND_" + name.upper()))


def when(ts: Any) -> float | None:
    return codec.time_from_proto(ts) if ts.seconds or ts.nanos else None


@dataclass(frozen=True, slots=True)
class AlertView:
    alert_id: str
    camera_id: str
    kind: str
    zone: str
    severity: str
    status: str
    first_seen: float | None
    last_seen: float | None
    count: int
    class_name: str
    reason: str
    escalation_level: int
    policy_version: str
    first_event_id: str
    track_ids: tuple[str, ...]

    @property
    def open(self) -> bool:
        return self.status in ("raised", "acknowledged")

    @property
    def high(self) -> bool:
        return SEVERITY_RANK.get(self.severity, 0) >= SEVERITY_RANK["high"]

    def matches(self, camera: str, kind: str, severity: str) -> bool:
        """The wall's filters: empty means any; severity is a minimum."""
        return (
            (not camera or self.camera_id == camera)
            and (not kind or self.kind == kind)
            and (not severity or SEVERITY_RANK.get(self.severity, 0) >= SEVERITY_RANK[severity])
        )


def alert_view(alert: alerts_pb2.Alert) -> AlertView:
    return AlertView(
        alert_id=alert.alert_id,
        camera_id=alert.camera_id,
        kind=kind_name(alert.kind),
        zone=alert.zone,
        severity=enum_name(alerts_pb2.Severity, alert.severity, "SEVERITY_"),
        status=enum_name(alerts_pb2.AlertStatus, alert.status, "ALERT_STATUS_"),
        first_seen=when(alert.first_seen),
        last_seen=when(alert.last_seen),
        count=alert.count,
        class_name=alert.class_name,
        reason=alert.reason,
        escalation_level=alert.escalation_level,
        policy_version=alert.policy_version,
        first_event_id=alert.first_event_id,
        track_ids=tuple(alert.track_ids),
    )


def verdict_view(verdict: verdicts_pb2.Verdict) -> dict[str, Any]:
    return {
        "action": enum_name(verdicts_pb2.VerdictAction, verdict.action, "VERDICT_ACTION_"),
        "operator": verdict.operator,
        "role": verdict.role,
        "reason": verdict.reason,
        "at": when(verdict.decided_at),
    }


def precision_text(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.0%}"


def report_heat(heat: services_pb2.HeatMap) -> dict[str, Any]:
    """A heat map as rows of shares of its largest cell (0..1), for drawing."""
    cells = list(heat.cells)
    top = max(cells, default=0) or 1
    rows = [
        [cells[r * heat.columns + c] / top for c in range(heat.columns)] for r in range(heat.rows)
    ]
    return {
        "camera_id": heat.camera_id,
        "rows": rows,
        "columns": heat.columns,
        "height": heat.rows,
        "tracks": heat.tracks,
    }
