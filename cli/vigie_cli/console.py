"""How alerts and the end-of-run summary look in a terminal."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

from vigie_core.types import Alert


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 10)}"


def alert_line(alert: Alert) -> str:
    track = alert.track_ids[0] if alert.track_ids else "-"
    return (
        f"{clock(alert.first_seen)}  ALERT {alert.severity.value:<8} camera={alert.camera_id}"
        f"  event={alert.kind.value}  zone={alert.zone}  class={alert.class_name or '-'}"
        f"  track={track}  status={alert.status.value}  id={alert.alert_id[:8]}"
    )


def summary(alerts: Iterable[Alert], frames: int | None, seconds: float) -> str:
    alerts = list(alerts)
    by_kind = Counter((a.kind.value, a.zone) for a in alerts)
    lines = ["", "── summary ──────────────────────────────────────────"]
    if frames is not None:
        lines.append(f"frames captured: {frames} in {seconds:.1f}s")
    lines.append(f"alerts raised:   {len(alerts)}")
    for (kind, zone), n in sorted(by_kind.items()):
        lines.append(f"  {kind} @ {zone}: {n}")
    return "\n".join(lines)


def alert_data(alert: Alert) -> dict[str, object]:
    """An alert as the ``--json`` summaries give it (stable keys)."""
    return {
        "alert_id": alert.alert_id,
        "camera_id": alert.camera_id,
        "kind": alert.kind.value,
        "zone": alert.zone,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "class_name": alert.class_name,
        "track_ids": list(alert.track_ids),
        "first_seen": alert.first_seen,
    }


def summary_data(alerts: Iterable[Alert], frames: int | None, seconds: float) -> dict[str, object]:
    """The end-of-run summary as data: what ``vigie run --json`` and ``vigie demo --json`` print."""
    alerts = sorted(alerts, key=lambda a: (a.first_seen, a.alert_id))
    by_kind = Counter((a.kind.value, a.zone) for a in alerts)
    return {
        "frames": frames,
        "seconds": round(seconds, 3),
        "alert_count": len(alerts),
        "by_kind": [
            {"kind": kind, "zone": zone, "count": n} for (kind, zone), n in sorted(by_kind.items())
        ],
        "alerts": [alert_data(a) for a in alerts],
    }
