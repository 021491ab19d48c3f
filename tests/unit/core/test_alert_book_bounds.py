"""The alert book's memory under an alert flood: open alerts capped per camera, what merges and
what is refused at the cap, and that refused events leave nothing behind."""

from __future__ import annotations

import pytest

from vigie_core.alerting.book import (
    REASON_CAPPED,
    REASON_MERGED,
    REASON_RAISED,
    AlertBook,
    AlertRules,
)
from vigie_core.types import Event, EventKind, FrameRef, Severity, VerdictAction

T0 = 1_700_000_000.0


def rules(max_open: int) -> AlertRules:
    return AlertRules({EventKind.ZONE_INTRUSION: Severity.HIGH}, cooldown_s=60.0, max_open=max_open)


def event(n: int, t: float, zone: str, camera: str = "cam") -> Event:
    frame = FrameRef(camera, n, t, 640, 480)
    return Event(f"ev-{camera}-{n}", EventKind.ZONE_INTRUSION, frame, zone, "person")


def test_max_open_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_open"):
        AlertRules({}, max_open=0)


def test_a_flood_of_new_keys_is_refused_beyond_the_cap_and_leaves_no_window() -> None:
    book = AlertBook(rules(max_open=3))
    reasons = [book.on_event(event(n, T0 + n, f"z{n}")).reason for n in range(1_000)]
    assert reasons[:3] == [REASON_RAISED] * 3 and set(reasons[3:]) == {REASON_CAPPED}
    assert book.open_count("cam") == 3
    state = book.to_state()
    assert len(state["alerts"]) == 3 and len(state["windows"]) == 3


def test_repeats_past_the_cooldown_merge_at_the_cap_instead_of_stacking_up() -> None:
    book = AlertBook(rules(max_open=2))
    # One zone, an event every two minutes: each would open a new alert (cooldown 60 s).
    outcomes = [book.on_event(event(n, T0 + 120 * n, "gate")) for n in range(100)]
    assert [o.reason for o in outcomes[:2]] == [REASON_RAISED] * 2
    assert {o.reason for o in outcomes[2:]} == {REASON_MERGED}
    assert book.open_count("cam") == 2
    assert outcomes[-1].alert is not None and outcomes[-1].alert.count == 99


def test_the_cap_is_per_camera_and_lifts_when_an_alert_is_decided() -> None:
    book = AlertBook(rules(max_open=1))
    first = book.on_event(event(1, T0, "a")).alert
    assert book.on_event(event(2, T0 + 1, "b")).reason == REASON_CAPPED
    assert book.on_event(event(3, T0 + 1, "a", camera="other")).reason == REASON_RAISED
    assert first is not None
    book.verdict(first.alert_id, VerdictAction.ACKNOWLEDGE, "op", "", T0 + 2)
    assert book.on_event(event(4, T0 + 3, "b")).reason == REASON_CAPPED  # still open
    book.verdict(first.alert_id, VerdictAction.CONFIRM, "op", "seen", T0 + 4)
    assert book.on_event(event(5, T0 + 5, "b")).reason == REASON_RAISED
