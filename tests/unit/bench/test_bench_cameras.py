"""The judgements of ``make bench-cameras``: the clip's alerts right, a trial kept up."""

from __future__ import annotations

from bench.bench_cameras import BACKGROUND_GROUPS, Trial, check_alerts, slope
from vigie_cli.samples import SAMPLE_VISITS
from vigie_core.types import Alert, AlertStatus, EventKind, FrameRef, Severity


def alert_on(frame: int, n: int) -> Alert:
    return Alert(
        alert_id=f"a{n}",
        camera_id="one-by-one",
        kind=EventKind.ZONE_INTRUSION,
        zone="table",
        severity=Severity.HIGH,
        status=AlertStatus.RAISED,
        first_event_id=f"e{n}",
        first_seen=frame / 10.0,
        last_seen=frame / 10.0,
        class_name="person",
        frame=FrameRef("one-by-one", frame, frame / 10.0),
    )


def alerts(frames: list[int]) -> dict[str, Alert]:
    return {f"a{n}": alert_on(f, n) for n, f in enumerate(frames)}


def test_one_alert_per_visit_is_right() -> None:
    check = check_alerts(alerts([start + 10 for start, _ in SAMPLE_VISITS]))
    assert check.right and check.visits_alerted == 6 and check.extra == 0


def test_a_missed_visit_a_double_and_a_stray_are_wrong() -> None:
    frames = [start + 10 for start, _ in SAMPLE_VISITS[1:]]  # the first visit missed
    assert check_alerts(alerts(frames)).visits_alerted == 5
    doubled = check_alerts(alerts([*frames, SAMPLE_VISITS[0][0] + 5, SAMPLE_VISITS[0][0] + 50]))
    assert (doubled.visits_alerted, doubled.extra, doubled.right) == (5, 2, False)
    stray = check_alerts(alerts([start + 10 for start, _ in SAMPLE_VISITS] + [1380]))
    assert (stray.visits_alerted, stray.extra, stray.right) == (6, 1, False)


def test_a_trial_keeps_up_only_without_growth_delay_or_stale_frames() -> None:
    assert Trial(3, slope_per_s=1.0, in_flight_end=40, stale=0, tracks_p95_ms=300).kept_up(0.5)
    assert not Trial(3, slope_per_s=2.0, in_flight_end=12, stale=0, tracks_p95_ms=300).kept_up(0.5)
    assert not Trial(3, slope_per_s=0.0, in_flight_end=12, stale=0, tracks_p95_ms=1200).kept_up(0.5)
    assert not Trial(3, slope_per_s=0.0, in_flight_end=0, stale=1, tracks_p95_ms=300).kept_up(0.5)
    never = Trial(3, slope_per_s=0.0, in_flight_end=0, stale=0, tracks_p95_ms=float("inf"))
    assert not never.kept_up(0.5)


def test_the_node_keeps_up_only_when_the_groups_off_the_live_path_do_too() -> None:
    behind = Trial(2, 0.0, 10, 0, 300, background_slope_per_s=5.0)
    assert behind.kept_up(0.5) and not behind.node_kept_up(0.5)
    assert Trial(2, 0.0, 10, 0, 300, background_slope_per_s=0.8).node_kept_up(0.5)
    live_behind = Trial(2, 3.0, 10, 0, 300, background_slope_per_s=0.0)
    assert not live_behind.node_kept_up(0.5)


def test_storage_s_groups_are_off_the_live_path_and_detection_s_on_it() -> None:
    assert {"vigie-storage", "vigie-storage-snapshots"} <= BACKGROUND_GROUPS
    assert "vigie-detection" not in BACKGROUND_GROUPS


def test_slope_of_a_growing_backlog() -> None:
    assert slope([(0.0, 0), (1.0, 5), (2.0, 10)]) == 5.0
    assert slope([(0.0, 7)]) == 0.0
