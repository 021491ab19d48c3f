"""The alert policy, escalation and the book's saved state, in the pure core."""

from __future__ import annotations

import json
from datetime import time

import pytest

from vigie_core.alerting import AlertBook, AlertRules
from vigie_core.alerting.policy import (
    AlertPolicy,
    CameraPolicy,
    Grant,
    KindPolicy,
    Refusal,
    Suppression,
    severity_rank,
)
from vigie_core.schedule import Schedule, TimeWindow
from vigie_core.types import (
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
    Severity,
    Verdict,
    VerdictAction,
)

T0 = 1_700_000_000.0  # Tuesday 2023-11-14 22:13:20 UTC
NIGHT = Schedule((TimeWindow(frozenset({"tue"}), time(22, 0), time(6, 0)),), "UTC")


def event(t: float = T0, camera: str = "gate", kind: EventKind = EventKind.ZONE_INTRUSION,
          zone: str = "lawn", n: int = 0) -> Event:  # fmt: skip
    return Event(f"ev-{camera}-{kind}-{t}-{n}", kind, FrameRef(camera, n, t), zone, "person")


POLICY = AlertPolicy(
    version="v3",
    cameras={
        "gate": CameraPolicy(
            {
                EventKind.ZONE_INTRUSION: KindPolicy(Severity.HIGH, NIGHT, retention_days=10),
                EventKind.FIRE: KindPolicy(Severity.CRITICAL),
            }
        )
    },
    default=CameraPolicy({EventKind.FIRE: KindPolicy(Severity.HIGH)}),
    suppressions=(
        Suppression(
            T0 + 3600,
            T0 + 7200,
            "lens cleaning",
            cameras=frozenset({"gate"}),
            kinds=frozenset({EventKind.FIRE}),
        ),
    ),
)


def test_a_granted_kind_carries_severity_version_and_retention() -> None:
    assert POLICY.decide(event()) == Grant(Severity.HIGH, "v3", 10)


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (event(kind=EventKind.LOITERING), "loitering is not an authorised alert at camera gate"),
        (event(T0 + 12 * 3600), "zone_intrusion at camera gate is outside its authorised hours"),
        (event(T0 + 3700, kind=EventKind.FIRE), "suppressed: lens cleaning"),
        (
            event(camera="dock", kind=EventKind.ZONE_INTRUSION),
            "zone_intrusion is not an authorised alert at camera dock",
        ),
    ],
)
def test_refusals_say_why(candidate: Event, reason: str) -> None:
    assert POLICY.decide(candidate) == Refusal(reason, "v3")


def test_other_cameras_fall_back_to_the_default_and_without_one_signal_nothing() -> None:
    assert POLICY.decide(event(camera="dock", kind=EventKind.FIRE)) == Grant(
        Severity.HIGH, "v3", 30
    )
    strict = AlertPolicy("v1", cameras=POLICY.cameras)
    assert strict.decide(event(camera="dock")) == Refusal("camera dock has no alert policy", "v1")


def test_a_suppression_ends_when_it_says() -> None:
    assert isinstance(POLICY.decide(event(T0 + 7200, kind=EventKind.FIRE)), Grant)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Suppression(T0, T0, "zero length"),
        lambda: Suppression(T0, T0 + 1, "  "),
        lambda: KindPolicy(Severity.LOW, retention_days=0),
        lambda: AlertPolicy(" "),
    ],
)
def test_bad_policies_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_severities_are_ranked() -> None:
    ranks = [severity_rank(s) for s in (Severity.INFO, Severity.LOW, Severity.MEDIUM,
                                        Severity.HIGH, Severity.CRITICAL)]  # fmt: skip
    assert ranks == [0, 1, 2, 3, 4]


# -- escalation and saved state ------------------------------------------------------------------

AFTER = {Severity.MEDIUM: 30.0, Severity.HIGH: 60.0, Severity.CRITICAL: 120.0}


def book_with_alert(severity: Severity = Severity.MEDIUM) -> tuple[AlertBook, str]:
    book = AlertBook(AlertRules({}, cooldown_s=60))
    outcome = book.on_event(event(), Grant(severity, "v3", 10), now=T0)
    assert outcome.alert is not None
    return book, outcome.alert.alert_id


def test_escalation_climbs_one_level_per_limit_and_renotifies_at_critical() -> None:
    book, alert_id = book_with_alert()
    assert book.escalate(T0 + 29, AFTER) == []
    (first,) = book.escalate(T0 + 30, AFTER)
    assert (first.severity, first.escalation_level) == (Severity.HIGH, 1)
    assert book.escalate(T0 + 89, AFTER) == []  # high's clock restarted at T0 + 30
    (second,) = book.escalate(T0 + 90, AFTER)
    assert (second.severity, second.escalation_level) == (Severity.CRITICAL, 2)
    (third,) = book.escalate(T0 + 210, AFTER)
    assert (third.severity, third.escalation_level) == (Severity.CRITICAL, 3)
    assert book.get(alert_id).policy_version == "v3"


def test_a_severity_without_a_limit_never_escalates() -> None:
    book, _ = book_with_alert(Severity.LOW)
    assert book.escalate(T0 + 10**6, AFTER) == []


def test_acknowledging_stops_escalation() -> None:
    book, alert_id = book_with_alert()
    book.verdict(alert_id, VerdictAction.ACKNOWLEDGE, "ana", "", T0 + 5)
    assert book.escalate(T0 + 10**6, AFTER) == []


def test_the_saved_state_is_the_same_book() -> None:
    book, alert_id = book_with_alert()
    book.on_event(event(T0 + 5, n=1), Grant(Severity.MEDIUM, "v3", 10), now=T0 + 5)
    book.escalate(T0 + 30, AFTER)
    book.verdict(alert_id, VerdictAction.ACKNOWLEDGE, "ana", "", T0 + 40)
    state = json.loads(json.dumps(book.to_state()))
    again = AlertBook.from_state(AlertRules({}, cooldown_s=60), state)
    assert again.alerts(include_closed=True) == book.alerts(include_closed=True)
    # Dedup goes on: a replay counts nothing, a repeat merges.
    replay = again.on_event(event(T0 + 5, n=1), Grant(Severity.MEDIUM, "v3", 10), now=T0 + 50)
    assert replay.reason == "duplicate event"
    merged = again.on_event(event(T0 + 45, n=2), Grant(Severity.MEDIUM, "v3", 10), now=T0 + 50)
    assert merged.alert is not None and merged.alert.count == 3
    assert merged.alert.status is AlertStatus.ACKNOWLEDGED


def test_a_state_of_another_version_is_refused_and_none_is_an_empty_book() -> None:
    rules = AlertRules({}, cooldown_s=60)
    assert AlertBook.from_state(rules, None).alerts(include_closed=True) == []
    with pytest.raises(ValueError, match="version"):
        AlertBook.from_state(rules, {"v": 99})


def test_a_verdict_read_back_twice_applies_once() -> None:
    book, alert_id = book_with_alert()
    verdict = Verdict("vd-1", alert_id, VerdictAction.DISMISS, "ana", "a cat", T0 + 9)
    assert book.apply_verdict(verdict) is not None
    assert book.apply_verdict(verdict) is None
    assert book.apply_verdict(Verdict("vd-2", "nope", VerdictAction.CONFIRM, "a", "b", T0)) is None
