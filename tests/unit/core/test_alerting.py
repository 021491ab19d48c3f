"""The alert book: dedup, merging, the verdict state machine, recovery and housekeeping."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vigie_core.alerting.book import (
    MAX_TRACK_IDS,
    REASON_DUPLICATE,
    REASON_MERGED,
    REASON_NOT_ALERTED,
    REASON_QUIET,
    REASON_RAISED,
    AlertBook,
    AlertRules,
    UnknownAlert,
    VerdictError,
    describe,
)
from vigie_core.ids import millis, stable_id
from vigie_core.types import (
    Alert,
    AlertStatus,
    Event,
    EventKind,
    FrameRef,
    Severity,
    VerdictAction,
)

T0 = 1_700_000_000.0
COOLDOWN = 60.0
ACK, CONFIRM, DISMISS = VerdictAction.ACKNOWLEDGE, VerdictAction.CONFIRM, VerdictAction.DISMISS


def rules(cooldown_s: float = COOLDOWN) -> AlertRules:
    return AlertRules(severities={EventKind.ZONE_INTRUSION: Severity.HIGH}, cooldown_s=cooldown_s)


def make_event(
    event_id: str,
    t: float = T0,
    *,
    camera: str = "cam-1",
    kind: EventKind = EventKind.ZONE_INTRUSION,
    zone: str = "table",
    class_name: str = "person",
    track_ids: tuple[str, ...] = ("cam-1:1",),
    details: dict[str, str] | None = None,
    sequence: int = 0,
) -> Event:
    return Event(
        event_id=event_id,
        kind=kind,
        frame=FrameRef(camera_id=camera, sequence=sequence, captured_at=t),
        zone=zone,
        class_name=class_name,
        track_ids=track_ids,
        details=details or {},
    )


def raised(book: AlertBook, event_id: str = "e0", t: float = T0) -> Alert:
    outcome = book.on_event(make_event(event_id, t))
    assert outcome.is_new and outcome.alert is not None
    return outcome.alert


# -- raising and merging ---------------------------------------------------------------------


def test_burst_of_repeats_is_one_alert_with_count() -> None:
    book = AlertBook(rules())
    outcomes = [
        book.on_event(make_event(f"e{i}", T0 + i, track_ids=(f"cam-1:{i % 3}",), sequence=i))
        for i in range(10)
    ]

    assert [o.reason for o in outcomes] == [REASON_RAISED] + [REASON_MERGED] * 9
    assert [o.is_new for o in outcomes] == [True] + [False] * 9
    assert all(o.changed for o in outcomes)
    [alert] = book.alerts()
    assert alert.count == 10
    assert alert.first_seen == T0 and alert.last_seen == T0 + 9
    assert alert.track_ids == ("cam-1:0", "cam-1:1", "cam-1:2")
    assert alert.alert_id == outcomes[0].alert.alert_id == outcomes[-1].alert.alert_id


def test_first_event_fixes_frame_class_severity_and_reason() -> None:
    book = AlertBook(rules())
    first = make_event("e0", T0, sequence=7)
    book.on_event(first)
    book.on_event(make_event("e1", T0 + 1, class_name="bicycle", sequence=8))

    [alert] = book.alerts()
    assert alert.frame == first.frame
    assert alert.class_name == "person"
    assert alert.severity is Severity.HIGH
    assert alert.status is AlertStatus.RAISED
    assert alert.first_event_id == "e0"
    assert alert.reason == "person in zone table at camera cam-1"


@pytest.mark.parametrize(
    ("gap", "expect_new"),
    [(1.0, False), (COOLDOWN, False), (COOLDOWN + 0.001, True), (10 * COOLDOWN, True)],
)
def test_cooldown_decides_merge_or_new_alert(gap: float, expect_new: bool) -> None:
    book = AlertBook(rules())
    first = raised(book, "e0", T0)

    outcome = book.on_event(make_event("e1", T0 + gap))

    assert outcome.is_new is expect_new
    assert (outcome.alert.alert_id != first.alert_id) is expect_new
    assert len(book.alerts()) == (2 if expect_new else 1)


def test_cooldown_counts_from_last_seen_not_first_seen() -> None:
    book = AlertBook(rules())
    for i in range(5):  # a slow trickle, each within the cooldown of the previous one
        book.on_event(make_event(f"e{i}", T0 + i * (COOLDOWN - 1)))

    [alert] = book.alerts()
    assert alert.count == 5


def test_new_alert_after_cooldown_leaves_the_old_one_open() -> None:
    book = AlertBook(rules())
    old = raised(book, "e0", T0)
    new = book.on_event(make_event("e1", T0 + 2 * COOLDOWN)).alert

    assert {a.alert_id for a in book.alerts()} == {old.alert_id, new.alert_id}
    assert book.get(old.alert_id).status is AlertStatus.RAISED
    # Repeats go to the newest alert, not back into the old one.
    assert book.on_event(make_event("e2", T0 + 2 * COOLDOWN + 1)).alert.alert_id == new.alert_id


@pytest.mark.parametrize(
    "other",
    [
        {"zone": "door"},
        {"camera": "cam-2"},
        {"kind": EventKind.LINE_CROSSING},
    ],
    ids=["zone", "camera", "kind"],
)
def test_different_key_raises_separate_alert(other: dict[str, object]) -> None:
    book = AlertBook(
        AlertRules(
            severities={
                EventKind.ZONE_INTRUSION: Severity.HIGH,
                EventKind.LINE_CROSSING: Severity.LOW,
            }
        )
    )
    first = raised(book, "e0", T0)

    outcome = book.on_event(make_event("e1", T0 + 1, **other))

    assert outcome.is_new and outcome.reason == REASON_RAISED
    assert outcome.alert.alert_id != first.alert_id
    assert book.get(first.alert_id).count == 1
    assert len(book.alerts()) == 2


def test_kind_without_severity_is_not_alerted() -> None:
    book = AlertBook(rules())

    outcome = book.on_event(make_event("e0", kind=EventKind.LINE_CROSSING, zone="door"))

    assert outcome.alert is None
    assert not outcome.is_new and not outcome.changed
    assert outcome.reason == REASON_NOT_ALERTED
    assert book.alerts(include_closed=True) == []


@pytest.mark.parametrize("repeat_index", [0, 1, 2])
def test_same_event_twice_changes_nothing(repeat_index: int) -> None:
    book = AlertBook(rules())
    events = [make_event(f"e{i}", T0 + i) for i in range(3)]
    for event in events:
        book.on_event(event)
    before = book.alerts()

    outcome = book.on_event(events[repeat_index])

    assert outcome.reason == REASON_DUPLICATE
    assert not outcome.is_new and not outcome.changed
    assert outcome.alert == before[0]
    assert book.alerts() == before
    assert before[0].count == 3


def test_duplicate_of_first_event_after_cooldown_raises_nothing() -> None:
    book = AlertBook(rules())
    first = make_event("e0", T0)
    book.on_event(first)
    book.on_event(make_event("e1", T0 + 3 * COOLDOWN))

    assert book.on_event(first).reason == REASON_DUPLICATE
    assert len(book.alerts()) == 2


def test_alert_ids_are_deterministic_across_books() -> None:
    events = [make_event(f"e{i}", T0 + i * 50, zone=("table", "door")[i % 2]) for i in range(8)]
    one, two = AlertBook(rules()), AlertBook(rules())

    ids_one = [one.on_event(e).alert.alert_id for e in events]
    ids_two = [two.on_event(e).alert.alert_id for e in events]

    assert ids_one == ids_two
    assert one.alerts() == two.alerts()
    assert ids_one[0] == stable_id("alert", "cam-1", EventKind.ZONE_INTRUSION, "table", "e0")


def test_track_ids_are_an_ordered_capped_union() -> None:
    book = AlertBook(rules())
    for i in range(MAX_TRACK_IDS + 20):
        book.on_event(make_event(f"e{i}", T0 + i * 0.1, track_ids=(f"t{i}", "t0")))

    [alert] = book.alerts()
    assert alert.track_ids == tuple(f"t{i}" for i in range(MAX_TRACK_IDS))
    assert alert.count == MAX_TRACK_IDS + 20


def test_merge_keeps_acknowledged_status() -> None:
    book = AlertBook(rules())
    alert = raised(book)
    book.verdict(alert.alert_id, ACK, "ana", "", T0 + 1)

    outcome = book.on_event(make_event("e1", T0 + 2))

    assert outcome.reason == REASON_MERGED
    assert outcome.alert.status is AlertStatus.ACKNOWLEDGED
    assert outcome.alert.count == 2


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (make_event("a"), "person in zone table at camera cam-1"),
        (
            make_event(
                "b", kind=EventKind.LINE_CROSSING, zone="door", details={"direction": "forward"}
            ),
            "person crossed line door (forward) at camera cam-1",
        ),
        (
            make_event("c", kind=EventKind.LINE_CROSSING, zone="door", class_name="car"),
            "car crossed line door at camera cam-1",
        ),
        (make_event("d", class_name=""), "object in zone table at camera cam-1"),
    ],
)
def test_reason_is_a_plain_one_liner(event: Event, expected: str) -> None:
    assert describe(event) == expected


# -- verdicts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "final"),
    [
        ([ACK], AlertStatus.ACKNOWLEDGED),
        ([CONFIRM], AlertStatus.CONFIRMED),
        ([DISMISS], AlertStatus.DISMISSED),
        ([ACK, CONFIRM], AlertStatus.CONFIRMED),
        ([ACK, DISMISS], AlertStatus.DISMISSED),
    ],
)
def test_valid_verdicts(actions: list[VerdictAction], final: AlertStatus) -> None:
    book = AlertBook(rules())
    alert = raised(book)

    for i, action in enumerate(actions):
        now = T0 + 10 + i
        updated, verdict = book.verdict(alert.alert_id, action, " ana ", "seen on screen", now)
        assert verdict.alert_id == alert.alert_id
        assert verdict.action is action
        assert verdict.operator == "ana"
        assert verdict.reason == "seen on screen"
        assert verdict.decided_at == now
        expected_id = stable_id("verdict", alert.alert_id, action, "ana", millis(now))
        assert verdict.verdict_id == expected_id

    assert updated.status is final
    assert book.get(alert.alert_id) == updated
    assert updated.count == alert.count and updated.reason == alert.reason


def test_acknowledge_needs_no_reason() -> None:
    book = AlertBook(rules())
    alert = raised(book)

    updated, verdict = book.verdict(alert.alert_id, ACK, "ana", "", T0 + 1)

    assert updated.status is AlertStatus.ACKNOWLEDGED
    assert verdict.reason == ""


@pytest.mark.parametrize(
    ("before", "action", "message"),
    [
        ([ACK], ACK, "is already acknowledged, it cannot be acknowledged"),
        ([CONFIRM], ACK, "is already confirmed, it cannot be acknowledged"),
        ([DISMISS], ACK, "is already dismissed, it cannot be acknowledged"),
        ([CONFIRM], CONFIRM, "is already confirmed, it cannot be confirmed"),
        ([CONFIRM], DISMISS, "is already confirmed, it cannot be dismissed"),
        ([DISMISS], CONFIRM, "is already dismissed, it cannot be confirmed"),
        ([DISMISS], DISMISS, "is already dismissed, it cannot be dismissed"),
        ([ACK, DISMISS], CONFIRM, "is already dismissed, it cannot be confirmed"),
    ],
)
def test_invalid_transitions_are_refused(
    before: list[VerdictAction], action: VerdictAction, message: str
) -> None:
    book = AlertBook(rules())
    alert = raised(book)
    for i, earlier in enumerate(before):
        book.verdict(alert.alert_id, earlier, "ana", "checked", T0 + i)
    status_before = book.get(alert.alert_id).status

    with pytest.raises(VerdictError, match=message) as error:
        book.verdict(alert.alert_id, action, "bo", "checked again", T0 + 100)

    assert str(error.value) == f"alert {alert.alert_id} {message}"
    assert isinstance(error.value, ValueError)
    assert book.get(alert.alert_id).status is status_before


@pytest.mark.parametrize("action", [CONFIRM, DISMISS])
@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_confirm_and_dismiss_need_a_reason(action: VerdictAction, blank: str) -> None:
    book = AlertBook(rules())
    alert = raised(book)

    with pytest.raises(VerdictError) as error:
        book.verdict(alert.alert_id, action, "ana", blank, T0 + 1)

    assert str(error.value) == f"a reason is required to {action} alert {alert.alert_id}"
    assert book.get(alert.alert_id).status is AlertStatus.RAISED


@pytest.mark.parametrize("action", [ACK, CONFIRM, DISMISS])
@pytest.mark.parametrize("blank", ["", "  "])
def test_verdicts_need_an_operator(action: VerdictAction, blank: str) -> None:
    book = AlertBook(rules())
    alert = raised(book)

    with pytest.raises(VerdictError) as error:
        book.verdict(alert.alert_id, action, blank, "a reason", T0 + 1)

    assert str(error.value) == f"an operator name is required to {action} alert {alert.alert_id}"
    assert book.get(alert.alert_id).status is AlertStatus.RAISED


def test_unknown_alert() -> None:
    book = AlertBook(rules())

    with pytest.raises(UnknownAlert) as error:
        book.verdict("nope", ACK, "ana", "", T0)

    assert isinstance(error.value, KeyError)
    assert str(error.value) == "no alert nope (unknown or already expired)"
    with pytest.raises(KeyError):
        book.get("nope")


def test_verdict_ids_differ_by_operator_and_time() -> None:
    ids = set()
    for operator, now in [("ana", T0 + 1), ("bo", T0 + 1), ("ana", T0 + 2)]:
        book = AlertBook(rules())
        alert = raised(book)
        ids.add(book.verdict(alert.alert_id, ACK, operator, "", now)[1].verdict_id)
    assert len(ids) == 3


# -- after a verdict -------------------------------------------------------------------------


def test_dismissed_key_stays_quiet_until_its_cooldown_passes() -> None:
    book = AlertBook(rules())
    alert = raised(book, "e0", T0)
    book.on_event(make_event("e1", T0 + 10))  # last_seen = T0 + 10
    dismissed, _ = book.verdict(alert.alert_id, DISMISS, "ana", "a waiter", T0 + 20)

    quiet = book.on_event(make_event("e2", T0 + 10 + COOLDOWN))
    again = book.on_event(make_event("e2", T0 + 10 + COOLDOWN))

    assert quiet.reason == REASON_QUIET and again.reason == REASON_DUPLICATE
    assert not quiet.is_new and not quiet.changed
    assert quiet.alert == dismissed  # untouched: a closed alert never changes again
    assert book.alerts() == []

    after = book.on_event(make_event("e3", T0 + 10 + COOLDOWN + 0.5))

    assert after.reason == REASON_RAISED and after.is_new
    assert after.alert.alert_id != alert.alert_id
    assert book.get(alert.alert_id) == dismissed


def test_quiet_window_is_not_extended_by_suppressed_events() -> None:
    book = AlertBook(rules())
    alert = raised(book, "e0", T0)
    book.verdict(alert.alert_id, DISMISS, "ana", "a waiter", T0 + 1)

    reasons = [book.on_event(make_event(f"q{i}", T0 + i * 20)).reason for i in range(1, 5)]

    assert reasons == [REASON_QUIET, REASON_QUIET, REASON_QUIET, REASON_RAISED]


@pytest.mark.parametrize("before", [[CONFIRM], [ACK, CONFIRM]])
def test_confirmed_key_raises_a_new_alert_at_once(before: list[VerdictAction]) -> None:
    book = AlertBook(rules())
    alert = raised(book, "e0", T0)
    for action in before:
        book.verdict(alert.alert_id, action, "ana", "a real intrusion", T0 + 1)

    outcome = book.on_event(make_event("e1", T0 + 2))

    assert outcome.reason == REASON_RAISED and outcome.is_new
    assert outcome.alert.alert_id != alert.alert_id
    assert book.get(alert.alert_id).count == 1
    assert [a.alert_id for a in book.alerts()] == [outcome.alert.alert_id]


# -- alerts() --------------------------------------------------------------------------------


def test_alerts_filters_and_orders_newest_first() -> None:
    book = AlertBook(rules())
    a = book.on_event(make_event("a", T0, camera="cam-1")).alert
    b = book.on_event(make_event("b", T0 + 5, camera="cam-2")).alert
    c = book.on_event(make_event("c", T0 + 10, camera="cam-1", zone="door")).alert
    book.verdict(a.alert_id, DISMISS, "ana", "a waiter", T0 + 20)

    def ids(alerts: list[Alert]) -> list[str]:
        return [x.alert_id for x in alerts]

    assert ids(book.alerts()) == [c.alert_id, b.alert_id]
    assert ids(book.alerts(include_closed=True)) == [c.alert_id, b.alert_id, a.alert_id]
    assert ids(book.alerts("cam-1")) == [c.alert_id]
    assert ids(book.alerts("cam-1", include_closed=True)) == [c.alert_id, a.alert_id]
    assert book.alerts("cam-9", include_closed=True) == []


# -- restore ---------------------------------------------------------------------------------


def published_alert() -> Alert:
    """An alert as another replica published it before this one restarted."""
    book = AlertBook(rules())
    for i in range(3):
        book.on_event(make_event(f"e{i}", T0 + i))
    [alert] = book.alerts()
    return alert


def test_restore_then_event_merges_instead_of_raising() -> None:
    alert = published_alert()
    book = AlertBook(rules())
    book.restore(alert)

    outcome = book.on_event(make_event("e3", T0 + 10))

    assert outcome.reason == REASON_MERGED and not outcome.is_new
    assert outcome.alert.alert_id == alert.alert_id
    assert outcome.alert.count == 4


@pytest.mark.parametrize("event_id", ["e0", "e1", "e2"])
def test_restore_then_replayed_events_change_nothing(event_id: str) -> None:
    alert = published_alert()
    book = AlertBook(rules())
    book.restore(alert)

    outcome = book.on_event(make_event(event_id, T0 + int(event_id[1])))

    assert outcome.reason == REASON_DUPLICATE
    assert book.get(alert.alert_id) == alert


def test_restore_is_idempotent_and_keeps_most_advanced() -> None:
    alert = published_alert()
    acknowledged = replace(alert, status=AlertStatus.ACKNOWLEDGED)
    stale = replace(alert, count=1, last_seen=alert.first_seen)
    book = AlertBook(rules())

    for copy in (acknowledged, alert, stale, acknowledged):
        book.restore(copy)

    restored = book.get(alert.alert_id)
    assert restored.status is AlertStatus.ACKNOWLEDGED
    assert restored.count == alert.count
    assert restored.last_seen == alert.last_seen
    assert book.alerts() == [restored]


def test_restore_never_reopens_a_closed_alert() -> None:
    alert = published_alert()
    book = AlertBook(rules())
    book.restore(replace(alert, status=AlertStatus.CONFIRMED))
    book.restore(alert)

    assert book.get(alert.alert_id).status is AlertStatus.CONFIRMED
    assert book.on_event(make_event("e3", T0 + 10)).reason == REASON_RAISED


def test_restored_dismissal_keeps_the_key_quiet() -> None:
    alert = replace(published_alert(), status=AlertStatus.DISMISSED)
    book = AlertBook(rules())
    book.restore(alert)

    assert book.on_event(make_event("e3", alert.last_seen + 1)).reason == REASON_QUIET
    late = book.on_event(make_event("e4", alert.last_seen + COOLDOWN + 1))
    assert late.reason == REASON_RAISED


def test_restore_merges_into_the_newest_open_alert_of_a_key() -> None:
    old = published_alert()
    newer = replace(
        old,
        alert_id="newer",
        first_event_id="n0",
        first_seen=T0 + 500,
        last_seen=T0 + 500,
        count=1,
    )
    book = AlertBook(rules())
    book.restore(newer)
    book.restore(old)

    assert book.on_event(make_event("n1", T0 + 510)).alert.alert_id == "newer"


# -- expire ----------------------------------------------------------------------------------


def test_expire_drops_old_closed_alerts_and_idle_windows() -> None:
    book = AlertBook(rules())
    closed_early = raised(book, "a", T0)
    book.verdict(closed_early.alert_id, CONFIRM, "ana", "real", T0 + 10)
    closed_late = book.on_event(make_event("b", T0, zone="door")).alert
    book.verdict(closed_late.alert_id, DISMISS, "ana", "a waiter", T0 + 2000)
    still_open = book.on_event(make_event("c", T0, camera="cam-2")).alert

    dropped = book.expire(T0 + 3700, keep_closed_s=3600)

    # One alert (closed at T0 + 10) and its now empty dedup window.
    assert dropped == 2
    with pytest.raises(UnknownAlert):
        book.get(closed_early.alert_id)
    assert book.get(closed_late.alert_id).status is AlertStatus.DISMISSED
    assert book.get(still_open.alert_id).status is AlertStatus.RAISED
    assert book.expire(T0 + 3700, keep_closed_s=3600) == 0


def test_expire_never_drops_open_alerts() -> None:
    book = AlertBook(rules())
    alert = raised(book)

    assert book.expire(T0 + 10 * 86_400, keep_closed_s=0) == 0
    assert book.get(alert.alert_id) == alert
    # Its dedup memory is kept too: a late replay still changes nothing.
    assert book.on_event(make_event("e0", T0)).reason == REASON_DUPLICATE


def test_expire_keeps_a_quiet_window_after_its_alert_is_gone() -> None:
    book = AlertBook(rules(cooldown_s=600))
    alert = raised(book, "e0", T0)
    book.verdict(alert.alert_id, DISMISS, "ana", "a waiter", T0 + 1)

    assert book.expire(T0 + 100, keep_closed_s=10) == 1  # the alert only
    assert book.on_event(make_event("e1", T0 + 200)).reason == REASON_QUIET
    assert book.expire(T0 + 10_000, keep_closed_s=10) == 1  # now the window
    assert book.on_event(make_event("e2", T0 + 10_000)).reason == REASON_RAISED


def test_expire_refuses_a_negative_retention() -> None:
    with pytest.raises(ValueError, match="keep_closed_s"):
        AlertBook(rules()).expire(T0, keep_closed_s=-1)


# -- rules -----------------------------------------------------------------------------------


def test_rules_accept_plain_strings_from_config() -> None:
    book = AlertBook(AlertRules(severities={"zone_intrusion": "critical"}))  # type: ignore[dict-item]

    assert book.on_event(make_event("e0")).alert.severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("severities", "cooldown_s"),
    [({"zone_intrusion": "urgent"}, 60.0), ({"face_match": "high"}, 60.0), ({}, -1.0)],
)
def test_rules_refuse_bad_config(severities: dict[str, str], cooldown_s: float) -> None:
    with pytest.raises(ValueError):
        AlertRules(severities=severities, cooldown_s=cooldown_s)  # type: ignore[arg-type]


def test_rules_cannot_be_changed_behind_the_book() -> None:
    severities = {EventKind.ZONE_INTRUSION: Severity.HIGH}
    rules_ = AlertRules(severities=severities)
    severities[EventKind.LINE_CROSSING] = Severity.LOW

    assert EventKind.LINE_CROSSING not in rules_.severities
