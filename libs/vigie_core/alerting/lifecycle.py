"""The alert lifecycle, defined once: the order of statuses, what each verdict leads to, and how
two copies of one alert combine.

An alert is raised, then acknowledged, then confirmed or dismissed, each move made by a person's
verdict. Two different questions are answered here, on purpose by two different rules:

- **The desk** (:func:`transition`): may this person do this now? Moves that make no sense (a
  second acknowledgement, changing a final verdict) are refused with a reason they can read.
- **The record** (:func:`most_advanced`, :func:`settle`): copies of an alert and its verdicts
  arrive at least once and in any order (the alerting stage republishes an alert whenever it
  changes, verdicts travel on their own topic), and every copy was valid when it was made. They
  are combined, never refused, by a rule that is commutative, associative and idempotent, so
  whatever the order and however many replays, every store and every restarted desk ends with
  the same alert. Each field keeps the furthest value any copy reached.

Where two final verdicts disagree (two desks deciding at once, before either heard of the other),
the record keeps *confirmed*: a dismissal must not hide that someone judged the problem real, and
both verdicts stay in the record of verdicts for the audit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import reduce
from types import MappingProxyType

from vigie_core.alerting.policy import severity_rank
from vigie_core.types import Alert, AlertStatus, VerdictAction

# How far along its life an alert is. A total order, so that combining copies never depends on
# which arrived first; the two final statuses are ranked only to settle a disagreement.
STATUS_RANK: Mapping[AlertStatus, int] = MappingProxyType(
    {
        AlertStatus.RAISED: 0,
        AlertStatus.ACKNOWLEDGED: 1,
        AlertStatus.DISMISSED: 2,
        AlertStatus.CONFIRMED: 3,
    }
)

# Open alerts await a person (and merge repeats); closed ones are final.
OPEN_STATUSES = frozenset({AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED})
CLOSED_STATUSES = frozenset({AlertStatus.CONFIRMED, AlertStatus.DISMISSED})

# The status each verdict leads to ...
LEADS_TO: Mapping[VerdictAction, AlertStatus] = MappingProxyType(
    {
        VerdictAction.ACKNOWLEDGE: AlertStatus.ACKNOWLEDGED,
        VerdictAction.CONFIRM: AlertStatus.CONFIRMED,
        VerdictAction.DISMISS: AlertStatus.DISMISSED,
    }
)

# ... and the statuses a person may give it from: acknowledging is optional, a final verdict is
# never changed.
ALLOWED_FROM: Mapping[VerdictAction, frozenset[AlertStatus]] = MappingProxyType(
    {
        VerdictAction.ACKNOWLEDGE: frozenset({AlertStatus.RAISED}),
        VerdictAction.CONFIRM: OPEN_STATUSES,
        VerdictAction.DISMISS: OPEN_STATUSES,
    }
)

# Closing an alert is a judgement another person may have to audit: it says why.
NEEDS_REASON = frozenset({VerdictAction.CONFIRM, VerdictAction.DISMISS})


@dataclass(frozen=True, slots=True)
class Refusal:
    """A verdict the desk will not apply; ``reason`` completes "alert <id> ..." for the operator."""

    status: AlertStatus
    action: VerdictAction

    @property
    def reason(self) -> str:
        return f"is already {self.status}, it cannot be {LEADS_TO[self.action]}"


def transition(status: AlertStatus, action: VerdictAction) -> AlertStatus | Refusal:
    """Where a person's verdict takes an alert in ``status``, or why it may not."""
    action, status = VerdictAction(action), AlertStatus(status)
    if status in ALLOWED_FROM[action]:
        return LEADS_TO[action]
    return Refusal(status, action)


# Every action from every status: the whole state machine, for reading and for tests.
TRANSITIONS: Mapping[tuple[AlertStatus, VerdictAction], AlertStatus | Refusal] = MappingProxyType(
    {(s, a): transition(s, a) for s in AlertStatus for a in VerdictAction}
)


def needs_reason(action: VerdictAction) -> bool:
    return VerdictAction(action) in NEEDS_REASON


def further_status(a: AlertStatus, b: AlertStatus) -> AlertStatus:
    """The status of two that went further; the record never moves an alert back."""
    return a if STATUS_RANK[AlertStatus(a)] >= STATUS_RANK[AlertStatus(b)] else b


def settle(alert: Alert, actions: Iterable[VerdictAction]) -> Alert:
    """``alert`` with the verdicts known for it: its status moves to the furthest any of them
    leads to. Verdicts can arrive before the copy of the alert that reflects them; they still
    count, in whatever order they were stored (unlike :func:`transition`, nothing is refused:
    each verdict was accepted by a desk when it was given)."""
    status = reduce(further_status, (LEADS_TO[VerdictAction(a)] for a in actions), alert.status)
    return alert if status is alert.status else replace(alert, status=status)


def most_advanced(a: Alert, b: Alert) -> Alert:
    """Two copies of one alert combined so that no progress either has seen is lost.

    Each field keeps the furthest value: the further status, severity and escalation, the
    higher count, the earliest ``first_seen`` and the latest ``last_seen``. What describes the
    alert now (class, track ids, reason) comes from the copy seen last; what it was raised from
    (first event, frame, policy) from the copy that saw it first. Ties are broken by the values
    themselves, never by which copy came first, so the result is the same in any order.
    """
    if a.alert_id != b.alert_id:
        raise ValueError(f"not copies of one alert: {a.alert_id} and {b.alert_id}")
    origin = min(a, b, key=_origin_key)
    latest = max(a, b, key=_latest_key)
    return replace(
        origin,
        status=further_status(a.status, b.status),
        severity=max(a.severity, b.severity, key=severity_rank),
        escalation_level=max(a.escalation_level, b.escalation_level),
        count=max(a.count, b.count),
        last_seen=latest.last_seen,
        class_name=latest.class_name,
        track_ids=latest.track_ids,
        reason=latest.reason,
    )


def progress_key(alert: Alert) -> tuple[float, int, int, int]:
    """Orders the copies of one alert along a single history: last sighting, then status,
    escalation and count. For a store that keeps one whole copy instead of combining fields
    (it cannot read before it writes), the copy with the greatest key is the one
    :func:`most_advanced` would produce from copies made one after another; it never decreases
    when copies are combined."""
    return (alert.last_seen, STATUS_RANK[alert.status], alert.escalation_level, alert.count)


def _origin_key(alert: Alert) -> tuple[object, ...]:
    frame = alert.frame
    frame_key = (
        (0, frame.camera_id, frame.sequence, frame.captured_at, frame.width, frame.height)
        if frame is not None
        else (1,)  # a copy that carries the frame wins over one that does not
    )
    return (
        alert.first_seen,
        alert.first_event_id,
        frame_key,
        alert.policy_version,
        alert.retention_days,
        alert.camera_id,
        str(alert.kind),
        alert.zone,
    )


def _latest_key(alert: Alert) -> tuple[object, ...]:
    return (
        alert.last_seen,
        len(alert.track_ids),
        alert.track_ids,
        alert.class_name,
        alert.reason,
    )
