"""Time bounds: a message's time is checked against the stage's clock and its record's
timestamp; stale drops are counted and reported, throttled per camera.

Every clock is injected (a :class:`FakeClock` the test moves), so nothing here sleeps or depends
on the machine's time.
"""

from __future__ import annotations

import logging
import math
import os
import textwrap
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from vigie.v1 import frames_pb2
from vigie_core.types import (
    Alert,
    AlertStatus,
    AuditRecord,
    Box,
    Detection,
    Event,
    EventKind,
    FrameDetections,
    FrameRef,
    FrameTracks,
    Severity,
    Track,
    TrackState,
    Verdict,
    VerdictAction,
)
from vigie_runtime import codec
from vigie_runtime.settings import ServiceSettings, TimeBounds, load_settings
from vigie_runtime.timebounds import StaleDrops, TimeGuard, TimeRefused, time_of
from vigie_runtime.yamlconf import ConfigError

NOW = 1_800_000_000.0  # the stage's clock in these tests (2027)
FUTURE = TimeBounds().max_future_s
PAST = TimeBounds().max_past_s
LOGGER = "vigie_runtime.timebounds"


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def guard(now: float = NOW, **bounds: float) -> TimeGuard:
    return TimeGuard(TimeBounds(**bounds), FakeClock(now))


def ms(t: float) -> int:
    return round(t * 1000)


def refused(g: TimeGuard, t: float, record_ms: int = 0) -> str:
    with pytest.raises(TimeRefused) as info:
        g.check(t, record_ms)
    return str(info.value)


# -- TimeGuard.check ------------------------------------------------------------------------------


def test_defaults_are_ten_seconds_ahead_and_seven_days_behind() -> None:
    assert (FUTURE, PAST) == (10.0, 7 * 86_400.0)
    assert TimeGuard().bounds == TimeBounds()


@pytest.mark.parametrize("record_ms", [0, ms(NOW)], ids=["no-record", "record-now"])
def test_a_time_near_the_clock_is_accepted(record_ms: int) -> None:
    g = guard()
    for t in (NOW, NOW - 1.0, NOW + 1.0, NOW - 3600.0):
        g.check(t, record_ms)


def test_a_time_ahead_of_the_stage_clock_is_refused_naming_the_setting() -> None:
    reason = refused(guard(), NOW + FUTURE + 0.5)
    assert "ahead of this stage's clock" in reason
    assert "time.max_future_s: 10" in reason
    assert "10.5 s" in reason


def test_the_stage_clock_bounds_the_future_even_when_the_record_agrees() -> None:
    """A producer whose own clock is in 2099 stamps its record in 2099 too: the record's
    timestamp alone would let it through; the stage's clock does not."""
    t = 4_070_908_800.0  # 2099-01-01
    reason = refused(guard(), t, ms(t))
    assert "ahead of this stage's clock" in reason
    assert "2099-01-01" in reason


def test_a_time_ahead_of_its_record_timestamp_is_refused() -> None:
    """Within the stage's clock, but further ahead of its record than the tolerated skew."""
    record = NOW - 3600.0
    reason = refused(guard(), NOW - 1.0, ms(record))
    assert "ahead of its record's timestamp" in reason
    assert "time.max_future_s" in reason


def test_a_time_too_far_behind_its_record_timestamp_is_refused() -> None:
    reason = refused(guard(), NOW - PAST - 60.0, ms(NOW))
    assert "behind its record's timestamp" in reason
    assert "time.max_past_s: 604800" in reason


def test_an_old_record_may_carry_an_old_time() -> None:
    """A backlog older than max_past_s behind the clock, but near its record's timestamp, is
    bounded by the record (its producer wrote it then), not by the clock."""
    record = NOW - 30 * 86_400.0
    guard().check(record - 5.0, ms(record))


def test_without_a_record_timestamp_the_clock_bounds_the_past() -> None:
    reason = refused(guard(), NOW - PAST - 60.0, 0)
    assert "behind this stage's clock" in reason
    assert "time.max_past_s" in reason
    guard().check(NOW - PAST + 60.0, 0)


def test_the_year_1999_is_refused_with_or_without_a_record() -> None:
    t = 915_148_800.0  # 1999-01-01
    assert "1999-01-01" in refused(guard(), t, 0)
    assert "1999-01-01" in refused(guard(), t, ms(NOW))


@pytest.mark.parametrize("t", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("record_ms", [0, ms(NOW)], ids=["no-record", "record"])
def test_a_time_that_is_not_a_finite_number_is_refused(t: float, record_ms: int) -> None:
    assert "not a finite number" in refused(guard(), t, record_ms)


def test_exactly_at_the_bounds_is_accepted_and_just_past_them_refused() -> None:
    g = guard(max_future_s=5.0, max_past_s=100.0)
    # ahead of the clock
    g.check(NOW + 5.0)
    refused(g, NOW + 5.001)
    # ahead of the record (the clock being further ahead still)
    record = NOW - 50.0
    g.check(record + 5.0, ms(record))
    refused(g, record + 5.001, ms(record))
    # behind the record
    g.check(NOW - 100.0, ms(NOW))
    refused(g, NOW - 100.001, ms(NOW))
    # behind the clock, no record
    g.check(NOW - 100.0, 0)
    refused(g, NOW - 100.001, 0)


def test_the_bounds_set_are_the_bounds_checked() -> None:
    g = guard(max_future_s=60.0, max_past_s=3600.0)
    g.check(NOW + 59.0)
    assert "time.max_future_s: 60" in refused(g, NOW + 61.0)
    assert "time.max_past_s: 3600" in refused(g, NOW - 3601.0, ms(NOW))


def test_the_clock_is_read_at_each_check() -> None:
    clock = FakeClock()
    g = TimeGuard(TimeBounds(), clock)
    refused(g, NOW + 60.0)
    clock.now = NOW + 55.0
    g.check(NOW + 60.0)


def test_a_refusal_is_a_value_error_whose_time_is_shown_even_out_of_range() -> None:
    assert issubclass(TimeRefused, ValueError)
    reason = refused(guard(), 1e300)  # beyond what datetime can show
    assert "1e+300" in reason


# -- TimeGuard.check_restored ---------------------------------------------------------------------


def test_a_restored_clock_in_the_past_or_within_the_skew_is_accepted() -> None:
    g = guard()
    for t in (0.0, NOW - 30 * 86_400.0, NOW, NOW + FUTURE):
        g.check_restored(t)


@pytest.mark.parametrize("t", [NOW + FUTURE + 0.1, 4_070_908_800.0, math.nan, math.inf])
def test_a_restored_clock_from_the_future_is_refused(t: float) -> None:
    with pytest.raises(ValueError, match=r"last_time .* ahead of this replica's clock") as info:
        guard().check_restored(t)
    assert "time.max_future_s (10 s)" in str(info.value)


def test_a_refused_restored_clock_is_named_by_the_caller() -> None:
    with pytest.raises(ValueError, match=r"^state time "):
        guard().check_restored(NOW + 3600.0, what="state time")


# -- StaleDrops -----------------------------------------------------------------------------------


def unique(name: str) -> str:
    """A stage name of its own, so the process-wide counter starts from zero for this test."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def stale(stage: str, camera: str) -> float:
    value = REGISTRY.get_sample_value(
        "vigie_stale_messages_total", {"stage": stage, "camera": camera}
    )
    return value or 0.0


def warnings_of(caplog: pytest.LogCaptureFixture, stage: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING and getattr(r, "stage", "") == stage
    ]


@pytest.fixture
def caplog_warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    return caplog


def test_the_first_drop_of_a_camera_is_reported_at_once(
    caplog_warnings: pytest.LogCaptureFixture,
) -> None:
    stage = unique("stale-first")
    drops = StaleDrops(stage, every_s=30.0, clock=FakeClock(0.0))

    drops.drop("cam-a", 99.5, 100.0)

    (record,) = warnings_of(caplog_warnings, stage)
    assert record.camera == "cam-a"  # type: ignore[attr-defined]
    assert record.skipped == 1  # type: ignore[attr-defined]
    assert record.message_time == 99.5  # type: ignore[attr-defined]
    assert record.camera_time == 100.0  # type: ignore[attr-defined]
    assert record.behind_s == 0.5  # type: ignore[attr-defined]
    assert "older than their camera's clock" in record.getMessage()
    assert stale(stage, "cam-a") == 1.0


def test_drops_are_counted_at_once_but_reported_at_most_every_every_s(
    caplog_warnings: pytest.LogCaptureFixture,
) -> None:
    stage = unique("stale-throttle")
    clock = FakeClock(0.0)
    drops = StaleDrops(stage, every_s=30.0, clock=clock)

    drops.drop("cam-a", 1.0, 2.0)  # reported
    for second in range(1, 30):  # 29 more, within every_s of the report: silent, counted
        clock.now = float(second)
        drops.drop("cam-a", 1.0, 2.0)
    assert len(warnings_of(caplog_warnings, stage)) == 1
    assert stale(stage, "cam-a") == 30.0

    clock.now = 30.0  # every_s after the report: one line with the count since
    drops.drop("cam-a", 1.0, 2.0)
    first, second = warnings_of(caplog_warnings, stage)
    assert first.skipped == 1  # type: ignore[attr-defined]
    assert second.skipped == 30  # type: ignore[attr-defined]
    assert stale(stage, "cam-a") == 31.0

    clock.now = 31.0  # the throttle started again from that report
    drops.drop("cam-a", 1.0, 2.0)
    assert len(warnings_of(caplog_warnings, stage)) == 2
    clock.now = 60.0
    drops.drop("cam-a", 1.0, 2.0)
    assert [r.skipped for r in warnings_of(caplog_warnings, stage)] == [1, 30, 2]  # type: ignore[attr-defined]
    assert stale(stage, "cam-a") == 33.0


def test_each_camera_is_throttled_on_its_own(caplog_warnings: pytest.LogCaptureFixture) -> None:
    stage = unique("stale-cameras")
    drops = StaleDrops(stage, every_s=30.0, clock=FakeClock(0.0))

    for _ in range(5):
        drops.drop("cam-a", 1.0, 2.0)
        drops.drop("cam-b", 1.0, 2.0)

    assert sorted(r.camera for r in warnings_of(caplog_warnings, stage)) == ["cam-a", "cam-b"]  # type: ignore[attr-defined]
    assert stale(stage, "cam-a") == stale(stage, "cam-b") == 5.0


def test_the_cameras_remembered_are_bounded(caplog_warnings: pytest.LogCaptureFixture) -> None:
    stage = unique("stale-bounded")
    drops = StaleDrops(stage, every_s=30.0, max_cameras=3, clock=FakeClock(0.0))

    for n in range(50):
        drops.drop(f"cam-{n}", 1.0, 2.0)
        assert len(drops._pending) <= 3

    assert list(drops._pending) == ["cam-47", "cam-48", "cam-49"]
    assert len(warnings_of(caplog_warnings, stage)) == 50
    # A forgotten camera is reported again at once; a remembered one stays throttled.
    drops.drop("cam-0", 1.0, 2.0)
    drops.drop("cam-49", 1.0, 2.0)
    reported = [r.camera for r in warnings_of(caplog_warnings, stage)]  # type: ignore[attr-defined]
    assert reported[50:] == ["cam-0"]
    assert stale(stage, "cam-0") == 2.0


# -- time_of --------------------------------------------------------------------------------------

T = 1_700_000_123.25
CAMERA = "cam-time"
FRAME = FrameRef(CAMERA, 7, T, 640, 480)
TRACK = Track(f"{CAMERA}/1", "person", Box(0.1, 0.1, 0.3, 0.6), 0.9, TrackState.TRACKED)
DETECTIONS = FrameDetections(FRAME, (Detection(Box(0.1, 0.1, 0.3, 0.6), "person", 0.9),), "fake")
TRACKS = FrameTracks(FRAME, (TRACK,))
EVENT = Event("ev-1", EventKind.ZONE_INTRUSION, FRAME, "hall", "person", (TRACK.track_id,))
ALERT = Alert(
    alert_id="al-1",
    camera_id=CAMERA,
    kind=EventKind.ZONE_INTRUSION,
    zone="hall",
    severity=Severity.HIGH,
    status=AlertStatus.RAISED,
    first_event_id="ev-1",
    first_seen=T - 60.0,
    last_seen=T + 1.0,
    frame=FRAME,
)
VERDICT = Verdict("vd-1", "al-1", VerdictAction.ACKNOWLEDGE, "ana", "seen", T + 2.0)
AUDIT = AuditRecord("au-1", T + 3.0, "ana", "operator", "acknowledge", "al-1")


def frame_message(t: float = T) -> frames_pb2.Frame:
    frame = frames_pb2.Frame(camera_id=CAMERA, jpeg=b"\xff\xd8\xff\xd9", width=640, height=480)
    frame.captured_at.CopyFrom(codec.time_to_proto(t))
    return frame


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(frame_message(), T, id="frame"),
        pytest.param(DETECTIONS, T, id="detections"),
        pytest.param(TRACKS, T, id="tracks"),
        pytest.param(EVENT, T, id="event"),
        pytest.param(ALERT, T + 1.0, id="alert-last-seen"),
        pytest.param(VERDICT, T + 2.0, id="verdict-decided-at"),
        pytest.param(AUDIT, T + 3.0, id="audit-at"),
    ],
)
def test_time_of_each_vigie_message(item: object, expected: float) -> None:
    assert time_of(item) == expected


@pytest.mark.parametrize(
    ("decode", "value", "expected"),
    [
        pytest.param(codec.decode_frame, frame_message(), T, id="frame"),
        pytest.param(codec.decode_detections, DETECTIONS, T, id="detections"),
        pytest.param(codec.decode_tracks, TRACKS, T, id="tracks"),
        pytest.param(codec.decode_event, EVENT, T, id="event"),
        pytest.param(codec.decode_alert, ALERT, T + 1.0, id="alert"),
        pytest.param(codec.decode_verdict, VERDICT, T + 2.0, id="verdict"),
        pytest.param(codec.decode_audit, AUDIT, T + 3.0, id="audit"),
    ],
)
def test_time_of_what_the_codec_decodes(decode: object, value: object, expected: float) -> None:
    decoded = decode(codec.encode(value))  # type: ignore[operator, arg-type]
    assert time_of(decoded) == expected
    assert time_of(("some.topic.v1", decoded)) == expected  # stages reading several topics


@pytest.mark.parametrize(
    "item",
    [None, b"raw bytes", "text", 42, ("topic", None), ("a", "b", "c"), (1, EVENT)],
    ids=["none", "bytes", "str", "int", "pair-of-nothing", "triple", "pair-not-topic"],
)
def test_time_of_anything_else_is_none(item: object) -> None:
    assert time_of(item) is None


# -- TimeBounds settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bounds",
    [
        {"max_future_s": 0},
        {"max_future_s": -1},
        {"max_past_s": 0},
        {"max_past_s": -3600},
        {"max_future_s": 86_401},
        {"max_past_s": 367 * 86_400},
        {"max_future_s": math.nan},
        {"max_skew_s": 5},
    ],
    ids=[
        "zero-future",
        "negative-future",
        "zero-past",
        "negative-past",
        "future-over-a-day",
        "past-over-a-year",
        "nan",
        "unknown-key",
    ],
)
def test_time_bounds_out_of_range_are_refused(bounds: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        TimeBounds(**bounds)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("VIGIE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_every_service_has_the_default_bounds(clean_environment: pytest.MonkeyPatch) -> None:
    assert load_settings(ServiceSettings).time == TimeBounds()


def test_bounds_come_from_the_yaml_file_and_the_environment_overrides_them(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        textwrap.dedent(
            """
            time:
              max_future_s: 30
              max_past_s: 3600
            """
        ),
        encoding="utf-8",
    )
    assert load_settings(ServiceSettings, path).time == TimeBounds(max_future_s=30, max_past_s=3600)

    clean_environment.setenv("VIGIE_TIME__MAX_FUTURE_S", "2.5")
    settings = load_settings(ServiceSettings, path)
    assert settings.time == TimeBounds(max_future_s=2.5, max_past_s=3600)


def test_a_negative_bound_in_the_yaml_file_names_its_line(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("log_level: INFO\ntime:\n  max_future_s: -5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(ServiceSettings, path)
    assert f"{path}:3" in str(info.value)
    assert "time.max_future_s" in str(info.value)
