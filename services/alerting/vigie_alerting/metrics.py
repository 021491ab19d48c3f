"""The evaluation loop as Prometheus metrics: per camera, kind and zone, how many alerts were
raised, confirmed and dismissed, and the resulting precision.

Gauges, not counters: the figures come from the state table, so they survive restarts and a
replica that takes a camera over reports its whole history, not what it saw since it started.
"""

from __future__ import annotations

from prometheus_client import Gauge

from vigie_core.alerting.evaluation import Evaluation

ALERTS = Gauge(
    "vigie_alerts",
    "Alerts by operators' outcome (raised, confirmed, dismissed), from the alert state",
    ["camera", "kind", "zone", "outcome"],
)
PRECISION = Gauge(
    "vigie_alert_precision",
    "Confirmed over decided alerts (absent until one is decided)",
    ["camera", "kind", "zone"],
)


def export(camera_id: str, evaluation: Evaluation) -> None:
    for (kind, zone), tally in evaluation.tallies.items():
        labels = (camera_id, str(kind), zone)
        ALERTS.labels(*labels, "raised").set(tally.raised)
        ALERTS.labels(*labels, "confirmed").set(tally.confirmed)
        ALERTS.labels(*labels, "dismissed").set(tally.dismissed)
        if tally.precision is not None:
            PRECISION.labels(*labels).set(tally.precision)
