"""Alerting in the pure core: the alert lifecycle, the alert book, the policy that authorises
signals, escalation, routing and the evaluation counts. No clock, broker or network here: callers
pass ``now``."""

from vigie_core.alerting.book import (
    AlertBook,
    AlertOutcome,
    AlertRules,
    UnknownAlert,
    VerdictError,
    describe,
)
from vigie_core.alerting.lifecycle import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Refusal,
    most_advanced,
    transition,
)

__all__ = [
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "AlertBook",
    "AlertOutcome",
    "AlertRules",
    "Refusal",
    "UnknownAlert",
    "VerdictError",
    "describe",
    "most_advanced",
    "transition",
]
