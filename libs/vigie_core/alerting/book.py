"""Alerting rules and the alert desk state machine.

Alerts are signals for a person, not decisions: the system raises them and merges repeats, and
only an operator's verdict (acknowledge, then confirm or dismiss, with a reason) moves them on,
along the lifecycle :mod:`vigie_core.alerting.lifecycle` defines for every stage.
Nothing here reads a clock: event time comes from ``Event.occurred_at`` and desk time from the
``now`` the caller passes, so a replay of the same input rebuilds the same book.

Delivery upstream is at-least-once, so every path must be idempotent: alert ids are derived from
the first event, event ids already handled are remembered per dedup key, and after a restart the
book is re-seeded from the published alerts with :meth:`AlertBook.restore`.

Dedup key is ``(camera_id, kind, zone)``. Repeats within ``cooldown_s`` of an open alert's
``last_seen`` merge into it. A *dismissed* alert keeps its key quiet until ``last_seen +
cooldown_s``: a dismissal means "not a real problem", and the operator must not be handed the same
thing again seconds later. The quiet window is fixed at dismissal; events during it do not extend
it. A *confirmed* alert does not suppress anything: the problem is real, so a repeat is news.

Memory is bounded per camera: at most ``max_open`` alerts of one camera are open at once. At the
cap, a repeat of a key that still has an open alert merges into it however long ago it was last
seen (the recurrence is counted on the row the operator already has), and an event with no open
alert to merge into is refused (``REASON_CAPPED``) for the caller to count and journal. An
operator handed hundreds of rows from one camera reads none of them; the refusal tells an SRE
the camera or its rules are broken, without hiding the alerts already in the queue. Closed
alerts and idle dedup windows go with :meth:`AlertBook.expire`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any

from vigie_core.alerting.lifecycle import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Refusal,
    most_advanced,
    needs_reason,
    transition,
)
from vigie_core.alerting.policy import SEVERITY_ORDER, Grant, severity_rank
from vigie_core.ids import millis, stable_id
from vigie_core.types import (
    Alert,
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
    Severity,
    Verdict,
    VerdictAction,
)

REASON_RAISED = "raised"
REASON_MERGED = "merged"
REASON_DUPLICATE = "duplicate event"
REASON_NOT_ALERTED = "kind not alerted"
REASON_QUIET = "quiet after dismissal"
REASON_CAPPED = "too many open alerts for the camera"

MAX_OPEN_ALERTS = 200  # per camera: far more than anyone can handle, so reaching it is a fault
MAX_TRACK_IDS = 50  # an alert points at who was involved; a crowd needs no longer list
SEEN_IDS_PER_KEY = 256  # replays arrive soon after the original; the state is saved per event

_Key = tuple[str, EventKind, str]


class UnknownAlert(KeyError):
    """The desk was asked about an alert this book does not hold (never raised, or expired)."""

    def __init__(self, alert_id: str) -> None:
        super().__init__(alert_id)
        self.alert_id = alert_id

    def __str__(self) -> str:
        # KeyError would quote the bare id; an operator-facing API needs a sentence.
        return f"no alert {self.alert_id} (unknown or already expired)"


class VerdictError(ValueError):
    """A verdict the state machine refuses; the message is meant to be shown to the operator."""


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Which event kinds become alerts, how severe they are, and how long repeats merge.

    Kinds absent from ``severities`` are not alerted: line crossings, for instance, are counts.
    Keys and values are normalised to the enums so a mapping read from YAML works unchanged and
    a typo fails at start-up rather than silently never alerting.
    """

    severities: Mapping[EventKind, Severity]
    cooldown_s: float = 60.0
    max_open: int = MAX_OPEN_ALERTS  # open alerts per camera; beyond, merge or refuse

    def __post_init__(self) -> None:
        if self.cooldown_s < 0:
            raise ValueError(f"cooldown_s must be >= 0, got {self.cooldown_s}")
        if self.max_open < 1:
            raise ValueError(f"max_open must be >= 1, got {self.max_open}")
        normalised = {EventKind(k): Severity(v) for k, v in self.severities.items()}
        object.__setattr__(self, "severities", MappingProxyType(normalised))


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """What one event did to the book, so the caller knows whether and what to publish."""

    alert: Alert | None
    is_new: bool
    reason: str

    @property
    def changed(self) -> bool:
        """True when ``alert`` differs from what was last published (raised or merged)."""
        return self.reason in (REASON_RAISED, REASON_MERGED)


@dataclass(slots=True)
class _Window:
    """Per dedup key memory: which alert repeats merge into, which events were already handled."""

    current_id: str | None = None
    last_seen: float = float("-inf")
    quiet_until: float = float("-inf")
    quiet_alert_id: str | None = None
    # Events at or before this time were handled before a restart (restored from a published
    # alert); replays of them must not bump counts the published alert already includes.
    watermark: float = float("-inf")
    alert_ids: set[str] = field(default_factory=set)
    seen: OrderedDict[str, str | None] = field(default_factory=OrderedDict)

    def remember(self, event_id: str, alert_id: str | None) -> None:
        self.seen[event_id] = alert_id
        self.seen.move_to_end(event_id)
        while len(self.seen) > SEEN_IDS_PER_KEY:
            self.seen.popitem(last=False)

    def is_replay(self, event: Event) -> bool:
        return event.event_id in self.seen or event.occurred_at <= self.watermark

    def is_idle(self, now: float, cooldown_s: float) -> bool:
        """Nothing left to merge into, suppress or deduplicate against."""
        return not self.alert_ids and now - self.last_seen > cooldown_s and now > self.quiet_until


class AlertBook:
    """Open alerts and dedup windows for all cameras handled by one alerting replica.

    Not thread-safe: the owning service feeds it events and verdicts from one place.
    """

    def __init__(self, rules: AlertRules) -> None:
        self._rules = rules
        self._alerts: dict[str, Alert] = {}
        self._windows: dict[_Key, _Window] = {}
        self._closed_at: dict[str, float] = {}
        # Desk time when each open alert was raised or last escalated: the escalation clock.
        self._raised_at: dict[str, float] = {}
        # Verdicts already applied (bounded), so a verdict read back from its topic is a no-op.
        self._verdicts: OrderedDict[str, None] = OrderedDict()

    # -- events ---------------------------------------------------------------------------------

    def on_event(
        self, event: Event, grant: Grant | None = None, now: float | None = None
    ) -> AlertOutcome:
        """Raise, merge, suppress or ignore one event; a second delivery of it changes nothing.

        ``grant`` is the policy's decision for the event; without one, the rules' severities
        decide. ``now`` is when the alert reaches the desk (the escalation clock starts there);
        it defaults to the event's own time.
        """
        if grant is None:
            severity = self._rules.severities.get(event.kind)
            if severity is None:
                return AlertOutcome(None, False, REASON_NOT_ALERTED)
            grant = Grant(severity, "", 0)
        key = _key_of(event)
        window = self._windows.get(key)
        if window is not None and window.is_replay(event):
            return self._duplicate(window, event)
        current = self._alerts.get(window.current_id) if window and window.current_id else None
        if window is not None and current is not None and self._merges_into(current, event):
            return self._merge(window, current, event)
        if window is not None and event.occurred_at <= window.quiet_until:
            return self._suppress(window, event)
        if self.open_count(event.camera_id) >= self._rules.max_open:
            # No window is made for a refused event: a flood of new keys must not grow memory.
            if window is not None and current is not None and current.status in OPEN_STATUSES:
                return self._merge(window, current, event)
            return AlertOutcome(None, False, REASON_CAPPED)
        if window is None:
            window = self._windows[key] = _Window()
        return self._raise(window, event, grant, event.occurred_at if now is None else now)

    def open_count(self, camera_id: str) -> int:
        """Open alerts (raised or acknowledged) of ``camera_id``: what ``max_open`` bounds."""
        return sum(
            1
            for a in self._alerts.values()
            if a.camera_id == camera_id and a.status in OPEN_STATUSES
        )

    def _merges_into(self, alert: Alert, event: Event) -> bool:
        return (
            alert.status in OPEN_STATUSES
            and event.occurred_at - alert.last_seen <= self._rules.cooldown_s
        )

    def _duplicate(self, window: _Window, event: Event) -> AlertOutcome:
        alert_id = window.seen.get(event.event_id)
        alert = self._alerts.get(alert_id) if alert_id else None
        return AlertOutcome(alert, False, REASON_DUPLICATE)

    def _merge(self, window: _Window, alert: Alert, event: Event) -> AlertOutcome:
        merged = replace(
            alert,
            count=alert.count + 1,
            last_seen=max(alert.last_seen, event.occurred_at),
            track_ids=_union(alert.track_ids, event.track_ids),
        )
        self._alerts[merged.alert_id] = merged
        window.remember(event.event_id, merged.alert_id)
        window.last_seen = max(window.last_seen, event.occurred_at)
        return AlertOutcome(merged, False, REASON_MERGED)

    def _suppress(self, window: _Window, event: Event) -> AlertOutcome:
        window.remember(event.event_id, window.quiet_alert_id)
        window.last_seen = max(window.last_seen, event.occurred_at)
        dismissed = self._alerts.get(window.quiet_alert_id) if window.quiet_alert_id else None
        return AlertOutcome(dismissed, False, REASON_QUIET)

    def _raise(self, window: _Window, event: Event, grant: Grant, now: float) -> AlertOutcome:
        alert_id = stable_id("alert", event.camera_id, event.kind, event.zone, event.event_id)
        if alert_id in self._alerts:
            # The event that opened this alert came back after its id left the bounded memory.
            window.remember(event.event_id, alert_id)
            return AlertOutcome(self._alerts[alert_id], False, REASON_DUPLICATE)
        alert = Alert(
            alert_id=alert_id,
            camera_id=event.camera_id,
            kind=event.kind,
            zone=event.zone,
            severity=grant.severity,
            status=AlertStatus.RAISED,
            first_event_id=event.event_id,
            first_seen=event.occurred_at,
            last_seen=event.occurred_at,
            count=1,
            class_name=event.class_name,
            track_ids=_union((), event.track_ids),
            frame=event.frame,
            reason=describe(event),
            policy_version=grant.policy_version,
            retention_days=grant.retention_days,
        )
        self._alerts[alert_id] = alert
        self._raised_at[alert_id] = now
        window.alert_ids.add(alert_id)
        window.current_id = alert_id
        window.remember(event.event_id, alert_id)
        window.last_seen = max(window.last_seen, event.occurred_at)
        return AlertOutcome(alert, True, REASON_RAISED)

    # -- the desk -------------------------------------------------------------------------------

    def verdict(
        self,
        alert_id: str,
        action: VerdictAction,
        operator: str,
        reason: str,
        now: float,
    ) -> tuple[Alert, Verdict]:
        """Apply a person's decision. The verdict is returned as an event of its own to publish;
        it is the only thing that ever closes an alert."""
        alert = self.get(alert_id)
        action = VerdictAction(action)
        operator, reason = operator.strip(), reason.strip()
        status = _check_verdict(alert, action, operator, reason)
        verdict = Verdict(
            verdict_id=stable_id("verdict", alert_id, action, operator, millis(now)),
            alert_id=alert_id,
            action=action,
            operator=operator,
            reason=reason,
            decided_at=now,
        )
        return self._apply(alert, verdict, status), verdict

    def apply_verdict(self, verdict: Verdict) -> Alert | None:
        """Apply a verdict read back from its topic (given at another replica, or before a
        restart). Idempotent: a verdict already applied, or one the alert's state has moved past,
        changes nothing and returns None."""
        if verdict.verdict_id in self._verdicts:
            return None
        alert = self._alerts.get(verdict.alert_id)
        if alert is None:
            return None
        status = transition(alert.status, verdict.action)
        if isinstance(status, Refusal):
            return None
        return self._apply(alert, verdict, status)

    def _apply(self, alert: Alert, verdict: Verdict, status: AlertStatus) -> Alert:
        updated = replace(alert, status=status)
        self._alerts[alert.alert_id] = updated
        self._raised_at.pop(alert.alert_id, None)  # acknowledged or closed: no escalation
        self._verdicts[verdict.verdict_id] = None
        while len(self._verdicts) > SEEN_IDS_PER_KEY:
            self._verdicts.popitem(last=False)
        if updated.status in CLOSED_STATUSES:
            self._closed_at[alert.alert_id] = verdict.decided_at
        if updated.status == AlertStatus.DISMISSED:
            self._quieten(updated)
        return updated

    # -- escalation -----------------------------------------------------------------------------

    def escalate(self, now: float, after_s: Mapping[Severity, float]) -> list[Alert]:
        """Raise the severity of alerts nobody acknowledged in time, and hand them back to be
        notified again. ``after_s`` gives the time limit per current severity (a severity absent
        from it never escalates); each escalation restarts the clock, up to critical, where the
        alert is re-notified at its own limit without rising further."""
        escalated = []
        for alert_id, since in list(self._raised_at.items()):
            alert = self._alerts.get(alert_id)
            if alert is None or alert.status != AlertStatus.RAISED:
                self._raised_at.pop(alert_id, None)
                continue
            limit = after_s.get(alert.severity)
            if limit is None or now - since < limit:
                continue
            rank = min(severity_rank(alert.severity) + 1, len(SEVERITY_ORDER) - 1)
            updated = replace(
                alert,
                severity=SEVERITY_ORDER[rank],
                escalation_level=alert.escalation_level + 1,
            )
            self._alerts[alert_id] = updated
            self._raised_at[alert_id] = now
            escalated.append(updated)
        return sorted(escalated, key=lambda a: (a.first_seen, a.alert_id))

    def _quieten(self, dismissed: Alert) -> None:
        window = self._windows.setdefault(_key_of_alert(dismissed), _Window())
        until = dismissed.last_seen + self._rules.cooldown_s
        if until > window.quiet_until:
            window.quiet_until = until
            window.quiet_alert_id = dismissed.alert_id

    def get(self, alert_id: str) -> Alert:
        try:
            return self._alerts[alert_id]
        except KeyError:
            raise UnknownAlert(alert_id) from None

    def alerts(self, camera_id: str | None = None, include_closed: bool = False) -> list[Alert]:
        """The operator queue: newest raised first, ties broken by id so the order is stable."""
        selected = (
            a
            for a in self._alerts.values()
            if (camera_id is None or a.camera_id == camera_id)
            and (include_closed or a.status in OPEN_STATUSES)
        )
        return sorted(selected, key=lambda a: (a.first_seen, a.alert_id), reverse=True)

    # -- recovery and housekeeping --------------------------------------------------------------

    def restore(self, alert: Alert) -> None:
        """Re-seed from a published alert after a restart.

        Idempotent and order-insensitive: when the book already holds the alert, the two copies
        are combined by :func:`~vigie_core.alerting.lifecycle.most_advanced`, so no progress
        either has seen is lost. Events of the key at or before the restored ``last_seen`` are
        then treated as replays, because the published alert already counts them; this assumes
        events of one camera arrive in time order, as they do per partition.
        """
        existing = self._alerts.get(alert.alert_id)
        merged = alert if existing is None else most_advanced(existing, alert)
        self._alerts[merged.alert_id] = merged
        window = self._windows.setdefault(_key_of_alert(merged), _Window())
        window.alert_ids.add(merged.alert_id)
        window.remember(merged.first_event_id, merged.alert_id)
        window.watermark = max(window.watermark, merged.last_seen)
        window.last_seen = max(window.last_seen, merged.last_seen)
        if self._is_newer_than_current(window, merged):
            window.current_id = merged.alert_id
        if merged.status in CLOSED_STATUSES:
            # The decision time is not on the alert; last_seen is the best lower bound.
            self._closed_at.setdefault(merged.alert_id, merged.last_seen)
        if merged.status == AlertStatus.DISMISSED:
            self._quieten(merged)
        if merged.status == AlertStatus.RAISED:
            self._raised_at.setdefault(merged.alert_id, merged.last_seen)

    def _is_newer_than_current(self, window: _Window, alert: Alert) -> bool:
        current = self._alerts.get(window.current_id) if window.current_id else None
        if current is None or current.alert_id == alert.alert_id:
            return True
        return (alert.first_seen, alert.last_seen) > (current.first_seen, current.last_seen)

    def expire(self, now: float, keep_closed_s: float = 3600.0) -> int:
        """Forget what no longer matters so a long-running replica does not grow without bound.

        Drops closed alerts decided more than ``keep_closed_s`` ago, then dedup windows that
        hold no alert and whose cooldown and quiet period have passed. Open alerts are never
        dropped: only a verdict closes an alert. Returns alerts and windows dropped, together.
        """
        if keep_closed_s < 0:
            raise ValueError(f"keep_closed_s must be >= 0, got {keep_closed_s}")
        return self._drop_closed(now - keep_closed_s) + self._drop_idle_windows(now)

    def _drop_closed(self, cutoff: float) -> int:
        stale = [aid for aid, closed_at in self._closed_at.items() if closed_at < cutoff]
        for alert_id in stale:
            alert = self._alerts.pop(alert_id)
            del self._closed_at[alert_id]
            window = self._windows.get(_key_of_alert(alert))
            if window is not None:
                window.alert_ids.discard(alert_id)
        return len(stale)

    def _drop_idle_windows(self, now: float) -> int:
        idle = [k for k, w in self._windows.items() if w.is_idle(now, self._rules.cooldown_s)]
        for key in idle:
            del self._windows[key]
        return len(idle)

    # -- state, for a changelog-backed table ----------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Everything the book holds, as JSON-ready data: saved per camera in a state table whose
        changelog lets a restarted replica resume with the same open alerts and dedup windows."""
        return {
            "v": STATE_VERSION,
            "alerts": [_alert_to_data(a) for a in self._alerts.values()],
            "windows": [_window_to_data(k, w) for k, w in self._windows.items()],
            "closed_at": dict(self._closed_at),
            "raised_at": dict(self._raised_at),
            "verdicts": list(self._verdicts),
        }

    @classmethod
    def from_state(cls, rules: AlertRules, state: Mapping[str, Any] | None) -> AlertBook:
        """The book :meth:`to_state` saved; ``None`` (nothing saved yet) gives an empty book."""
        book = cls(rules)
        if not state:
            return book
        if state.get("v") != STATE_VERSION:
            raise ValueError(f"alert book state version {state.get('v')!r} is not {STATE_VERSION}")
        for data in state["alerts"]:
            alert = _alert_from_data(data)
            book._alerts[alert.alert_id] = alert
        for data in state["windows"]:
            key, window = _window_from_data(data)
            book._windows[key] = window
        book._closed_at = {k: float(v) for k, v in state["closed_at"].items()}
        book._raised_at = {k: float(v) for k, v in state["raised_at"].items()}
        book._verdicts = OrderedDict.fromkeys(state["verdicts"])
        return book


def describe(event: Event) -> str:
    """The one-liner shown in the operator queue: what, where, which camera, in plain words."""
    what = event.class_name or "object"
    zone = event.zone or "(unnamed)"
    if event.kind == EventKind.ZONE_INTRUSION:
        return f"{what} in zone {zone} at camera {event.camera_id}"
    if event.kind == EventKind.LINE_CROSSING:
        direction = event.details.get("direction", "")
        suffix = f" ({direction})" if direction else ""
        return f"{what} crossed line {zone}{suffix} at camera {event.camera_id}"
    if event.kind in (EventKind.CAMERA_STALLED, EventKind.CAMERA_OFFLINE):
        state = "stalled" if event.kind == EventKind.CAMERA_STALLED else "offline"
        reason = event.details.get("reason", "")
        return f"camera {event.camera_id} {state}" + (f": {reason}" if reason else "")
    kind = str(event.kind).replace("_", " ")
    return f"{what}: {kind} at {zone} at camera {event.camera_id}"


def _check_verdict(alert: Alert, action: VerdictAction, operator: str, reason: str) -> AlertStatus:
    """The status the verdict leads to; refuses what a person must not be able to do, saying why
    in words they can act on."""
    if not operator:
        raise VerdictError(f"an operator name is required to {action} alert {alert.alert_id}")
    status = transition(alert.status, action)
    if isinstance(status, Refusal):
        raise VerdictError(f"alert {alert.alert_id} {status.reason}")
    if needs_reason(action) and not reason:
        raise VerdictError(f"a reason is required to {action} alert {alert.alert_id}")
    return status


def _union(existing: tuple[str, ...], new: Iterable[str]) -> tuple[str, ...]:
    """Ordered union, first seen first, capped so a long-lived alert stays small."""
    merged = dict.fromkeys(existing)
    for track_id in new:
        if len(merged) >= MAX_TRACK_IDS:
            break
        merged.setdefault(track_id)
    return tuple(merged)[:MAX_TRACK_IDS]


def _key_of(event: Event) -> _Key:
    return (event.camera_id, event.kind, event.zone)


def _key_of_alert(alert: Alert) -> _Key:
    return (alert.camera_id, alert.kind, alert.zone)


STATE_VERSION = 1


def _time_to_data(t: float) -> float | None:
    return None if t == float("-inf") else t


def _time_from_data(t: float | None) -> float:
    return float("-inf") if t is None else float(t)


def _alert_to_data(alert: Alert) -> dict[str, Any]:
    data = asdict(alert)
    data["track_ids"] = list(alert.track_ids)
    return data


def _alert_from_data(data: Mapping[str, Any]) -> Alert:
    frame = data.get("frame")
    return Alert(
        **{
            **data,
            "kind": EventKind(data["kind"]),
            "severity": Severity(data["severity"]),
            "status": AlertStatus(data["status"]),
            "track_ids": tuple(data["track_ids"]),
            "frame": FrameRef(**frame) if frame else None,
        }
    )


def _window_to_data(key: _Key, window: _Window) -> dict[str, Any]:
    return {
        "key": [key[0], str(key[1]), key[2]],
        "current_id": window.current_id,
        "last_seen": _time_to_data(window.last_seen),
        "quiet_until": _time_to_data(window.quiet_until),
        "quiet_alert_id": window.quiet_alert_id,
        "watermark": _time_to_data(window.watermark),
        "alert_ids": sorted(window.alert_ids),
        "seen": [[event_id, alert_id] for event_id, alert_id in window.seen.items()],
    }


def _window_from_data(data: Mapping[str, Any]) -> tuple[_Key, _Window]:
    camera_id, kind, zone = data["key"]
    window = _Window(
        current_id=data["current_id"],
        last_seen=_time_from_data(data["last_seen"]),
        quiet_until=_time_from_data(data["quiet_until"]),
        quiet_alert_id=data["quiet_alert_id"],
        watermark=_time_from_data(data["watermark"]),
        alert_ids=set(data["alert_ids"]),
        seen=OrderedDict((event_id, alert_id) for event_id, alert_id in data["seen"]),
    )
    return (camera_id, EventKind(kind), zone), window
