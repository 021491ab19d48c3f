"""The pure parts of capture's camera watch, driven by an injected clock."""

from __future__ import annotations

import random

from vigie.v1 import cameras_pb2
from vigie_capture.watch import (
    Backoff,
    CameraState,
    CameraWatch,
    stall_threshold,
    status_message,
    technical_event,
)
from vigie_core.types import EventKind
from vigie_runtime import codec

T0 = 1_800_000_000.0


def test_backoff_doubles_up_to_its_cap_and_jitter_only_shortens() -> None:
    backoff = Backoff(initial_s=1.0, max_s=30.0, jitter=0.2)
    assert [backoff.base(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.base(10_000) == 30.0
    rng = random.Random(7)
    for attempt in range(10):
        delay = backoff.delay(attempt, rng)
        assert 0.8 * backoff.base(attempt) <= delay <= backoff.base(attempt)
    assert Backoff(1.0, 30.0, jitter=0.0).delay(3) == 8.0


def test_stall_threshold_is_intervals_of_the_frame_rate_with_a_floor() -> None:
    assert stall_threshold(1.0, 5, 2.0) == 5.0
    assert stall_threshold(25.0, 5, 2.0) == 2.0
    assert stall_threshold(None, 5, 2.0) == 2.0
    assert stall_threshold(0.0, 5, 2.0) == 2.0


def test_frames_stall_and_return() -> None:
    watch = CameraWatch("cam", intervals=5, min_s=2.0, started_at=T0)
    assert watch.check(T0 + 100) is None  # not connected: nothing to stall
    watch.opened(T0, "s1", fps=1.0)  # threshold 5 s
    assert watch.check(T0 + 4.9) is None
    online = watch.frame(T0 + 1, 0)
    assert online is not None and online.state is CameraState.ONLINE and online.previous is None
    assert watch.frame(T0 + 2, 1) is None  # no change, no transition
    assert watch.check(T0 + 6.9) is None
    stalled = watch.check(T0 + 7.0)
    assert stalled is not None and stalled.state is CameraState.STALLED
    assert stalled.last_frame_age_s() == 5.0 and stalled.threshold_s == 5.0
    assert watch.check(T0 + 8) is None  # reported once
    assert not watch.snapshot().healthy
    # The reader gives the stalled stream up and reconnects: still stalled, not offline.
    assert watch.lost(T0 + 12, "read timed out", opened=True) is None
    assert watch.snapshot().state is CameraState.STALLED
    offline = watch.lost(T0 + 15, "could not be opened", opened=False)
    assert offline is not None and offline.state is CameraState.OFFLINE
    watch.opened(T0 + 20, "s2", fps=1.0)
    back = watch.frame(T0 + 21, 0)
    assert back is not None and back.state is CameraState.ONLINE
    assert watch.snapshot().session_id == "s2" and watch.snapshot().healthy


def test_a_connected_source_that_never_gives_a_frame_stalls_from_its_opening() -> None:
    watch = CameraWatch("cam", intervals=5, min_s=2.0, started_at=T0)
    watch.opened(T0 + 10, "s", fps=None)
    assert watch.check(T0 + 11.9) is None
    stalled = watch.check(T0 + 12)
    assert stalled is not None and "since the source opened" in stalled.reason


def test_an_ended_file_goes_offline_without_an_alert_and_stays_healthy() -> None:
    watch = CameraWatch("cam", intervals=5, min_s=2.0, started_at=T0)
    watch.opened(T0, "s", fps=25.0)
    watch.frame(T0 + 0.1, 0)
    ended = watch.ended(T0 + 1, "video source ended")
    assert ended is not None and ended.state is CameraState.OFFLINE and not ended.alert
    assert technical_event(ended) is None
    assert watch.snapshot().healthy
    assert watch.check(T0 + 100) is None


def test_transitions_map_to_technical_events_with_deterministic_ids() -> None:
    def stall() -> object:
        watch = CameraWatch("gate-1", intervals=5, min_s=2.0, started_at=T0)
        watch.opened(T0, "s", fps=10.0)
        watch.frame(T0 + 1, 41)
        return watch.check(T0 + 3.5)

    first, second = stall(), stall()
    event = technical_event(first)  # type: ignore[arg-type]
    assert event is not None and event == technical_event(second)  # type: ignore[arg-type]
    assert event.kind is EventKind.CAMERA_STALLED
    assert event.zone == "" and event.camera_id == "gate-1" and event.occurred_at == T0 + 3.5
    assert event.frame.sequence == 41
    assert event.details == {
        "status": "stalled",
        "reason": event.details["reason"],
        "last_frame_age_s": "2.500",
        "threshold_s": "2.000",
    }
    # The codec accepts the new kinds both ways.
    assert codec.decode_event(codec.encode(event), "gate-1") == event

    watch = CameraWatch("gate-1", intervals=5, min_s=2.0, started_at=T0)
    offline = watch.lost(T0 + 1, "video source 'rtsp://***@h/s' could not be opened", False)
    event = technical_event(offline)  # type: ignore[arg-type]
    assert event is not None and event.kind is EventKind.CAMERA_OFFLINE
    assert event.details["last_frame_age_s"] == ""
    assert codec.decode_event(codec.encode(event)).kind is EventKind.CAMERA_OFFLINE
    online = watch.frame(T0 + 2, 0)
    assert technical_event(online) is None  # type: ignore[arg-type]


def test_status_message_round_trips_through_the_codec() -> None:
    watch = CameraWatch("gate-1", intervals=5, min_s=2.0, started_at=T0)
    watch.opened(T0, "sess", fps=10.0)
    watch.frame(T0 + 1, 0)
    status = status_message(watch.snapshot(), T0 + 2, 9.5)
    decoded = codec.decode_camera_status(status.SerializeToString(), "gate-1")
    assert decoded.state == cameras_pb2.CAMERA_STATE_ONLINE
    assert decoded.session_id == "sess" and decoded.frames_per_second == 9.5
    assert codec.time_from_proto(decoded.last_frame_at) == T0 + 1
    assert codec.time_from_proto(decoded.since) == T0 + 1
    try:
        codec.decode_camera_status(status.SerializeToString(), "other")
    except codec.DecodeError as exc:
        assert "differs" in exc.reason
    else:
        raise AssertionError("a status keyed by another camera was accepted")


def test_frame_rate_falls_to_zero_when_frames_stop() -> None:
    from vigie_runtime.metrics import CAMERA_FPS, FrameRate

    rate = FrameRate("capture-watch-test", window_s=2.0, idle_s=60.0)
    for i in range(21):
        rate.tick("cam", now=100.0 + i * 0.1)  # 10 frames/s for 2 s
    assert CAMERA_FPS.labels("capture-watch-test", "cam")._value.get() == 10.0
    assert rate.refresh(now=102.0)["cam"] == 10.0
    falling = rate.refresh(now=103.0)["cam"]  # the frames of the last second only, over 2 s
    assert 0.0 < falling < 10.0
    assert rate.refresh(now=104.5) == {"cam": 0.0}  # at most one frame left in the window
    assert CAMERA_FPS.labels("capture-watch-test", "cam")._value.get() == 0.0
    assert rate.refresh(now=200.0) == {}  # idle: forgotten, its gauge at 0


def test_alerting_grants_and_describes_the_camera_alerts_under_the_built_in_policy() -> None:
    from vigie_alerting.policy_file import load_policy
    from vigie_core.alerting.book import describe
    from vigie_core.alerting.policy import Grant
    from vigie_core.types import Severity

    watch = CameraWatch("gate-1", intervals=5, min_s=2.0, started_at=T0)
    offline = watch.lost(T0 + 1, "video source 'rtsp://***@h/s' could not be opened", False)
    event = technical_event(offline)  # type: ignore[arg-type]
    assert event is not None
    decision = load_policy(None).file.to_policy().decide(event)
    assert isinstance(decision, Grant) and decision.severity is Severity.HIGH
    assert describe(event) == (
        "camera gate-1 offline: video source 'rtsp://***@h/s' could not be opened"
    )
