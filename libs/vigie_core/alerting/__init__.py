"""Alerting in the pure core: the alert book, the policy that authorises signals, escalation,
routing and the evaluation counts. No clock, broker or network here: callers pass ``now``."""

from vigie_core.alerting.book import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    AlertBook,
    AlertOutcome,
    AlertRules,
    UnknownAlert,
    VerdictError,
    describe,
)

__all__ = [
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "AlertBook",
    "AlertOutcome",
    "AlertRules",
    "UnknownAlert",
    "VerdictError",
    "describe",
]
