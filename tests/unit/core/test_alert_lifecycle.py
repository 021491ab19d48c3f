"""The alert lifecycle: every move of the desk's state machine, what it refuses and why, and the
rule that combines copies of one alert into the same result whatever order they arrive in.

Order independence is checked exhaustively over small sets of copies (every pair, triple and
permutation), which is cheap at this size and leaves no case to chance.
"""

from __future__ import annotations

from dataclasses import replace
from functools import reduce
from itertools import permutations, product

import pytest

from vigie_core.alerting import AlertBook, AlertRules
from vigie_core.alerting.lifecycle import (
    CLOSED_STATUSES,
    LEADS_TO,
    OPEN_STATUSES,
    STATUS_RANK,
    TRANSITIONS,
    Refusal,
    further_status,
    most_advanced,
    needs_reason,
    progress_key,
    settle,
    transition,
)
from vigie_core.types import (
    Alert,
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
    Severity,
    VerdictAction,
)

RAISED, ACKNOWLEDGED = AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED
CONFIRMED, DISMISSED = AlertStatus.CONFIRMED, AlertStatus.DISMISSED
ACK, CONFIRM, DISMISS = VerdictAction.ACKNOWLEDGE, VerdictAction.CONFIRM, VerdictAction.DISMISS
T0 = 1_700_000_000.0

# The whole state machine, written out cell by cell: (status, action) -> new status or refusal.
EXPECTED = {
    (RAISED, ACK): ACKNOWLEDGED,
    (RAISED, CONFIRM): CONFIRMED,
    (RAISED, DISMISS): DISMISSED,
    (ACKNOWLEDGED, ACK): "is already acknowledged, it cannot be acknowledged",
    (ACKNOWLEDGED, CONFIRM): CONFIRMED,
    (ACKNOWLEDGED, DISMISS): DISMISSED,
    (CONFIRMED, ACK): "is already confirmed, it cannot be acknowledged",
    (CONFIRMED, CONFIRM): "is already confirmed, it cannot be confirmed",
    (CONFIRMED, DISMISS): "is already confirmed, it cannot be dismissed",
    (DISMISSED, ACK): "is already dismissed, it cannot be acknowledged",
    (DISMISSED, CONFIRM): "is already dismissed, it cannot be confirmed",
    (DISMISSED, DISMISS): "is already dismissed, it cannot be dismissed",
}


# -- the desk ------------------------------------------------------------------------------------


def test_the_table_covers_every_status_and_action() -> None:
    assert set(TRANSITIONS) == set(product(AlertStatus, VerdictAction)) == set(EXPECTED)


@pytest.mark.parametrize(("status", "action"), sorted(EXPECTED))
def test_every_transition(status: AlertStatus, action: VerdictAction) -> None:
    expected = EXPECTED[(status, action)]
    result = transition(status, action)
    assert TRANSITIONS[(status, action)] == result
    if isinstance(expected, AlertStatus):
        assert result is expected
    else:
        assert isinstance(result, Refusal)
        assert (result.status, result.action) == (status, action)
        assert result.reason == expected


def test_transition_accepts_the_plain_strings_of_a_codec() -> None:
    assert transition("raised", "acknowledge") is ACKNOWLEDGED  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        transition(RAISED, "reopen")  # type: ignore[arg-type]


def test_an_allowed_verdict_always_moves_the_alert_forward() -> None:
    for (status, action), result in TRANSITIONS.items():
        if not isinstance(result, Refusal):
            assert STATUS_RANK[result] > STATUS_RANK[status], (status, action)
            assert result is LEADS_TO[action]


def test_only_a_closed_alert_or_a_second_acknowledgement_is_refused() -> None:
    for (status, action), result in TRANSITIONS.items():
        refused = status in CLOSED_STATUSES or (status, action) == (ACKNOWLEDGED, ACK)
        assert isinstance(result, Refusal) is refused, (status, action)


def test_closing_needs_a_reason_acknowledging_does_not() -> None:
    assert [needs_reason(a) for a in (ACK, CONFIRM, DISMISS)] == [False, True, True]


def test_statuses_are_open_or_closed_and_ranked_in_order() -> None:
    assert set(AlertStatus) == OPEN_STATUSES | CLOSED_STATUSES
    assert not OPEN_STATUSES & CLOSED_STATUSES
    assert sorted(AlertStatus, key=STATUS_RANK.__getitem__) == [
        RAISED,
        ACKNOWLEDGED,
        DISMISSED,
        CONFIRMED,
    ]
    assert len(set(STATUS_RANK.values())) == len(AlertStatus)  # a total order: no ties to settle
    assert max(STATUS_RANK[s] for s in OPEN_STATUSES) < min(STATUS_RANK[s] for s in CLOSED_STATUSES)


# -- the record: statuses and verdicts -----------------------------------------------------------


def test_further_status_is_order_independent() -> None:
    for a, b in product(AlertStatus, repeat=2):
        assert further_status(a, b) is further_status(b, a)
        assert further_status(a, a) is a
    for a, b, c in product(AlertStatus, repeat=3):
        assert further_status(further_status(a, b), c) is further_status(a, further_status(b, c))


def test_when_final_verdicts_disagree_the_confirmation_prevails() -> None:
    assert further_status(DISMISSED, CONFIRMED) is CONFIRMED
    assert further_status(CONFIRMED, DISMISSED) is CONFIRMED


@pytest.mark.parametrize("status", list(AlertStatus))
def test_settle_applies_verdicts_in_any_order_and_never_reopens(status: AlertStatus) -> None:
    alert = copy(status=status)
    for n in range(4):
        for actions in product(VerdictAction, repeat=n):
            results = {settle(alert, order).status for order in permutations(actions)}
            expected = reduce(further_status, (LEADS_TO[a] for a in actions), status)
            assert results == {expected}
            assert STATUS_RANK[expected] >= STATUS_RANK[status]


def test_settle_without_verdicts_returns_the_alert_itself() -> None:
    alert = copy()
    assert settle(alert, []) is alert
    assert settle(alert, [ACK, DISMISS]) == replace(alert, status=DISMISSED)
    assert settle(alert, ["confirm"]).status is CONFIRMED  # type: ignore[list-item]


# -- the record: copies of one alert -------------------------------------------------------------


def copy(**changes: object) -> Alert:
    base = Alert(
        alert_id="al-1",
        camera_id="cam-1",
        kind=EventKind.ZONE_INTRUSION,
        zone="gate",
        severity=Severity.MEDIUM,
        status=RAISED,
        first_event_id="ev-0",
        first_seen=T0,
        last_seen=T0,
        count=1,
        class_name="person",
        track_ids=("cam-1/1",),
        frame=FrameRef("cam-1", 10, T0, 640, 360),
        reason="person in zone gate at camera cam-1",
        policy_version="p-1",
        retention_days=30,
    )
    return replace(base, **changes)


# Copies that disagree on every field, including ties that only the values can settle.
COPIES = [
    copy(),
    copy(status=ACKNOWLEDGED, count=2, last_seen=T0 + 2, track_ids=("cam-1/1", "cam-1/2")),
    copy(severity=Severity.HIGH, escalation_level=1, count=2, last_seen=T0 + 2),
    copy(status=DISMISSED, count=3, last_seen=T0 + 5, reason="late", class_name="bicycle"),
    copy(status=CONFIRMED, last_seen=T0 + 5, track_ids=("cam-1/9",)),
    copy(first_seen=T0 - 1, first_event_id="ev-early", frame=None, policy_version="p-0"),
    copy(first_seen=T0 - 1, first_event_id="ev-early", frame=FrameRef("cam-1", 9, T0 - 1)),
]


def test_most_advanced_is_commutative_and_idempotent() -> None:
    for a, b in product(COPIES, repeat=2):
        assert most_advanced(a, b) == most_advanced(b, a)
    for a in COPIES:
        assert most_advanced(a, a) == a


def test_most_advanced_is_associative() -> None:
    for a, b, c in product(COPIES, repeat=3):
        assert most_advanced(most_advanced(a, b), c) == most_advanced(a, most_advanced(b, c))


def test_every_arrival_order_of_the_copies_gives_one_alert() -> None:
    results = {reduce(most_advanced, order) for order in permutations(COPIES)}
    assert len(results) == 1


def test_replays_change_nothing() -> None:
    once = reduce(most_advanced, COPIES)
    assert reduce(most_advanced, COPIES + COPIES[::-1] + COPIES) == once


def test_each_field_keeps_the_furthest_value_any_copy_reached() -> None:
    merged = reduce(most_advanced, COPIES)
    assert merged.status is CONFIRMED
    assert merged.count == 3
    assert merged.severity is Severity.HIGH and merged.escalation_level == 1
    assert (merged.first_seen, merged.last_seen) == (T0 - 1, T0 + 5)
    # Seen last (at T0 + 5, two copies): the one whose description says more, by its values.
    assert (merged.class_name, merged.track_ids, merged.reason) == (
        "person",
        ("cam-1/9",),
        "person in zone gate at camera cam-1",
    )
    # Seen first (at T0 - 1, two copies): the one that carries its frame.
    assert (merged.first_event_id, merged.frame, merged.policy_version) == (
        "ev-early",
        FrameRef("cam-1", 9, T0 - 1),
        "p-1",
    )


def test_copies_of_two_alerts_are_not_combined() -> None:
    with pytest.raises(ValueError, match="not copies of one alert: al-1 and al-2"):
        most_advanced(copy(), copy(alert_id="al-2"))


def test_progress_key_never_decreases_when_copies_combine() -> None:
    for a, b in product(COPIES, repeat=2):
        assert progress_key(most_advanced(a, b)) >= max(progress_key(a), progress_key(b))


def history() -> list[Alert]:
    """Every copy one alert desk publishes of one alert: raised, merged, escalated,
    acknowledged, merged again, dismissed."""
    rules = AlertRules({EventKind.ZONE_INTRUSION: Severity.MEDIUM}, cooldown_s=60.0)
    book = AlertBook(rules)

    def sighting(n: int) -> Alert:
        frame = FrameRef("cam-1", n, T0 + n)
        event = Event(f"e{n}", EventKind.ZONE_INTRUSION, frame, "gate", "person", (f"cam-1/{n}",))
        alert = book.on_event(event, now=T0 + n).alert
        assert alert is not None
        return alert

    first = sighting(0)
    published = [first, sighting(1), *book.escalate(T0 + 30, {Severity.MEDIUM: 10.0})]
    published.append(sighting(2))
    published.append(book.verdict(first.alert_id, ACK, "ana", "", T0 + 40)[0])
    published.append(sighting(3))
    published.append(book.verdict(first.alert_id, DISMISS, "ana", "a shadow", T0 + 50)[0])
    assert len(published) == 7 and published[2].escalation_level == 1
    return published


def test_copies_of_one_history_combine_into_the_last_in_any_order() -> None:
    copies = history()
    last = copies[-1]
    assert {reduce(most_advanced, order) for order in permutations(copies)} == {last}
    # A store that keeps one whole copy by its progress key keeps the same one.
    assert max(copies, key=progress_key) == last
    keys = [progress_key(c) for c in copies]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
