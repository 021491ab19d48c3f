"""Time poisoning: one message stamped far from now must not silence its camera.

The issue: "One detections message stamped in the year 9999 made tracking treat every later
detection of that camera as stale: no alert for the rest of the clip". Here the real tracking
and analytics services run in the single-process mode (stage runners over the in-memory bus)
with a camera whose frames are near the wall clock, and hostile messages stamped in 2099, an
hour ahead and in 1999 slipped among them: every normal frame must still be handled (none
skipped as stale) and the hostile ones dead-lettered with a ``time:`` reason. Then the restart
case: a stored state whose clock is in 2099 is discarded (counted), not resumed.
"""

from __future__ import annotations

import json
import logging
import os
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import REGISTRY

from vigie_analytics.handler import AnalyticsHandler
from vigie_analytics.service import AnalyticsService
from vigie_analytics.settings import AnalyticsSettings
from vigie_core.types import (
    Box,
    Detection,
    EventKind,
    FrameDetections,
    FrameRef,
    FrameTracks,
    Track,
    TrackState,
)
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.scenes import load_scenes
from vigie_runtime.service import StageService
from vigie_runtime.timebounds import TimeGuard
from vigie_runtime.topics import (
    ANALYTICS_STATE,
    DEAD_LETTERS,
    DETECTIONS,
    EVENTS,
    TRACKER_STATE,
    TRACKS,
)
from vigie_tracking.handler import TrackingHandler
from vigie_tracking.service import TrackingService
from vigie_tracking.settings import TrackingSettings

FPS = 10
YEAR_2099 = 4_070_908_800.0
YEAR_1999 = 915_148_800.0
HOSTILE_SEQUENCE = 1_000_000  # hostile messages are numbered from here, to tell them apart

_T = TypeVar("_T")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own VIGIE_* variables must not leak into the services' settings."""
    for name in list(os.environ):
        if name.upper().startswith("VIGIE_"):
            monkeypatch.delenv(name)


def unique(name: str) -> str:
    """A camera of its own, so the process-wide per-camera metrics start from zero."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stale(stage: str, camera: str) -> float:
    return sample("vigie_stale_messages_total", {"stage": stage, "camera": camera})


def discarded(stage: str) -> float:
    return sample("vigie_state_discarded_total", {"stage": stage})


def wait_for(what: str, value: Callable[[], _T], timeout_s: float = 10.0) -> _T:
    deadline = time.monotonic() + timeout_s
    while True:
        got = value()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout_s} s (last: {got!r})")
        time.sleep(0.01)


class Running:
    """One service instance on the bus, run in its thread as the single process runs it."""

    def __init__(self, service: StageService) -> None:
        self.service = service
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.service.run(self.stop)
        except BaseException as exc:
            self.errors.append(exc)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the service did not stop"
        assert not self.errors, self.errors


@pytest.fixture
def services() -> Iterator[Callable[[StageService], Running]]:
    started: list[Running] = []

    def start(service: StageService) -> Running:
        running = Running(service)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.close()


def of_camera(bus: InMemoryBus, topic: str, camera: str) -> list[Message]:
    return [m for m in bus.messages(topic) if m.camera_id == camera]


def time_letters(bus: InMemoryBus, camera: str, source: str) -> list[Message]:
    return [
        m
        for m in of_camera(bus, DEAD_LETTERS, camera)
        if m.headers.get("vigie.source.topic") == source.encode()
    ]


def reasons(letters: list[Message]) -> list[str]:
    return [m.headers["vigie.reason"].decode() for m in letters]


# -- tracking -------------------------------------------------------------------------------------


def person_at(i: int) -> Detection:
    """A person walking right at 0.025 of the frame width per second (in frame for 300 frames)."""
    x = 0.1 + 0.0025 * i
    return Detection(Box(x, 0.3, x + 0.1, 0.8), "person", 0.9)


def detections(camera: str, sequence: int, t: float, at: int | None = None) -> FrameDetections:
    """Frame ``sequence`` of the walk, the person where frame ``at`` (default: this one) has it."""
    person = person_at(sequence if at is None else at)
    return FrameDetections(FrameRef(camera, sequence, t, 640, 480), (person,), "fake")


def publish_detections(bus: InMemoryBus, *frames: FrameDetections) -> None:
    for frame in frames:
        bus.append(Output(DETECTIONS, frame.frame.camera_id, codec.encode(frame)))


def hostile_detections(camera: str, now: float) -> list[FrameDetections]:
    times = [YEAR_2099, now + 3600.0, YEAR_1999]
    return [detections(camera, HOSTILE_SEQUENCE + n, t, at=50) for n, t in enumerate(times)]


def tracked_sequences(bus: InMemoryBus, camera: str) -> list[int]:
    return [codec.decode_tracks(m.value).frame.sequence for m in of_camera(bus, TRACKS, camera)]


def tracking_service(bus: InMemoryBus) -> TrackingService:
    return TrackingService(TrackingSettings(), bus, Health())


def test_hostile_times_among_a_camera_s_detections_silence_nothing(
    services: Callable[[StageService], Running],
) -> None:
    bus = InMemoryBus()
    camera = unique("cam-poison")
    now = time.time()
    start = now - 30.0  # 30 s ago, 10 fps: the 200 frames end 10 s ago
    frames = [detections(camera, i, start + i / FPS) for i in range(200)]
    running = services(tracking_service(bus))

    publish_detections(bus, *frames[:50], *hostile_detections(camera, now), *frames[50:])
    wait_for("every frame tracked", lambda: len(tracked_sequences(bus, camera)) >= 200)
    letters = wait_for("three dead letters", lambda: time_letters(bus, camera, DETECTIONS))
    running.close()

    assert tracked_sequences(bus, camera) == list(range(200))  # none skipped as stale
    assert stale("tracking", camera) == 0.0
    assert len(letters) == 3
    assert all(r.startswith("time: TimeRefused: ") for r in reasons(letters))
    assert "2099-01-01" in reasons(letters)[0]
    assert "ahead of this stage's clock" in reasons(letters)[1]
    assert "1999-01-01" in reasons(letters)[2]
    hostile = [codec.decode_detections(m.value).frame.sequence for m in letters]
    assert hostile == [HOSTILE_SEQUENCE, HOSTILE_SEQUENCE + 1, HOSTILE_SEQUENCE + 2]
    assert {m.headers["vigie.stage"] for m in letters} == {b"tracking"}
    # The camera's clock is its last real frame, not a hostile one.
    assert running.service.handler.trackers[camera].last_time == frames[-1].frame.captured_at
    # A track was confirmed and kept its id through the hostile messages.
    confirmed = {
        t.track_id
        for m in of_camera(bus, TRACKS, camera)[20:]
        for t in codec.decode_tracks(m.value).tracks
    }
    assert len(confirmed) == 1


def test_a_frame_behind_the_camera_s_clock_is_skipped_counted_and_said_once(
    services: Callable[[StageService], Running], caplog: pytest.LogCaptureFixture
) -> None:
    """Within the bounds but older than the camera's clock (out of order, or a replay): not a
    dead letter but a stale drop, counted each time and reported at warning level."""
    caplog.set_level(logging.WARNING, logger="vigie_runtime.timebounds")
    bus = InMemoryBus()
    camera = unique("cam-late")
    start = time.time() - 30.0
    frames = [detections(camera, i, start + i / FPS) for i in range(40)]
    running = services(tracking_service(bus))

    late = [detections(camera, HOSTILE_SEQUENCE + n, start + n / FPS, at=30) for n in range(5)]
    publish_detections(bus, *frames[:30], *late, *frames[30:])
    wait_for("every frame tracked", lambda: len(tracked_sequences(bus, camera)) >= 40)
    wait_for("the late frames counted", lambda: stale("tracking", camera) >= 5)
    running.close()

    assert tracked_sequences(bus, camera) == list(range(40))
    assert stale("tracking", camera) == 5.0
    assert of_camera(bus, DEAD_LETTERS, camera) == []
    (warning,) = [r for r in caplog.records if getattr(r, "camera", None) == camera]
    assert warning.levelno == logging.WARNING
    assert warning.skipped == 1  # type: ignore[attr-defined]


def future_tracker_state(bus: InMemoryBus, camera: str) -> dict[str, Any]:
    """The newest real snapshot of ``camera`` on the state topic, its clock moved to 2099."""
    states = of_camera(bus, TRACKER_STATE, camera)
    assert states, "the runner saved no tracker state"
    document = json.loads(states[-1].value)
    assert document["camera_id"] == camera
    assert document["last_time"] is not None and document["tracks"]
    document["last_time"] = YEAR_2099
    return document


def test_a_stored_tracker_from_the_future_is_discarded_on_restart(
    services: Callable[[StageService], Running],
) -> None:
    bus = InMemoryBus()
    camera = unique("cam-restart")
    start = time.time() - 30.0
    frames = [detections(camera, i, start + i / FPS) for i in range(300)]
    first = services(tracking_service(bus))
    publish_detections(bus, *frames[:100])
    wait_for("the first part tracked", lambda: len(tracked_sequences(bus, camera)) >= 100)
    first.close()

    document = future_tracker_state(bus, camera)
    # The document is otherwise sound: a replica whose clock were past 2099 would resume it.
    TrackingHandler(
        TrackingSettings().tracker.params(), guard=TimeGuard(clock=lambda: YEAR_2099 + 1.0)
    ).load(camera, document)
    bus.append(Output(TRACKER_STATE, camera, json.dumps(document).encode()))
    before = discarded("tracking")

    second = services(tracking_service(bus))  # the restart
    publish_detections(bus, *frames[100:])
    wait_for("the rest tracked", lambda: len(tracked_sequences(bus, camera)) >= 300)
    second.close()

    assert tracked_sequences(bus, camera) == list(range(300))
    assert stale("tracking", camera) == 0.0
    assert discarded("tracking") == before + 1
    tracker = second.service.handler.trackers[camera]
    assert tracker.last_time == frames[-1].frame.captured_at
    # What the restarted replica saved is its own clock, not the injected one.
    saved = json.loads(of_camera(bus, TRACKER_STATE, camera)[-1].value)
    assert saved["last_time"] == frames[-1].frame.captured_at
    assert of_camera(bus, DEAD_LETTERS, camera) == []


# -- analytics ------------------------------------------------------------------------------------

MIN_DWELL_S = 1.0
STANDING = Box(0.45, 0.4, 0.55, 0.8)  # feet at (0.5, 0.8): inside the restricted zone


def scene_file(tmp_path: Path, camera: str) -> Path:
    path = tmp_path / "scenes.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            cameras:
              {camera}:
                zones:
                  - name: restricted
                    polygon: [[0.3, 0.6], [0.7, 0.6], [0.7, 1.0], [0.3, 1.0]]
                    classes: [person]
                    min_dwell_s: {MIN_DWELL_S}
            """
        ),
        encoding="utf-8",
    )
    return path


def analytics_service(bus: InMemoryBus, scenes: Path) -> AnalyticsService:
    return AnalyticsService(AnalyticsSettings(scenes=scenes), bus, Health())


def standing(camera: str, sequence: int, t: float, person: str, since: float) -> FrameTracks:
    track = Track(
        track_id=f"{camera}/{person}",
        class_name="person",
        box=STANDING,
        confidence=0.9,
        state=TrackState.TRACKED,
        first_seen=since,
        hits=10,
    )
    return FrameTracks(frame=FrameRef(camera, sequence, t, 640, 480), tracks=(track,))


def publish_tracks(bus: InMemoryBus, *frames: FrameTracks) -> None:
    for frame in frames:
        bus.append(Output(TRACKS, frame.frame.camera_id, codec.encode(frame)))


def intrusions(bus: InMemoryBus, camera: str) -> list[Any]:
    events = [codec.decode_event(m.value) for m in of_camera(bus, EVENTS, camera)]
    return [e for e in events if e.kind is EventKind.ZONE_INTRUSION]


def test_hostile_track_times_do_not_stop_a_zone_intrusion(
    tmp_path: Path, services: Callable[[StageService], Running]
) -> None:
    bus = InMemoryBus()
    camera = unique("cam-zone")
    now = time.time()
    start = now - 30.0
    stay = [standing(camera, i, start + i / FPS, "p1", start) for i in range(30)]
    hostile = [
        standing(camera, HOSTILE_SEQUENCE + n, t, "p1", start)
        for n, t in enumerate([YEAR_2099, now + 3600.0, YEAR_1999])
    ]
    running = services(analytics_service(bus, scene_file(tmp_path, camera)))

    # Half the dwell, the hostile messages, then the rest of the stay.
    publish_tracks(bus, *stay[:5], *hostile, *stay[5:])
    (event,) = wait_for("an intrusion", lambda: intrusions(bus, camera))
    letters = wait_for("three dead letters", lambda: time_letters(bus, camera, TRACKS))
    wait_for(
        "every frame handled",
        lambda: running.service.handler.last_time.get(camera) == stay[-1].frame.captured_at,
    )
    running.close()

    assert event.zone == "restricted"
    assert event.frame.sequence == round(MIN_DWELL_S * FPS)  # on time, despite the hostiles
    assert event.occurred_at == pytest.approx(start + MIN_DWELL_S)
    assert len(intrusions(bus, camera)) == 1
    assert stale("analytics", camera) == 0.0
    assert len(letters) == 3
    assert all(r.startswith("time: TimeRefused: ") for r in reasons(letters))
    assert {m.headers["vigie.stage"] for m in letters} == {b"analytics"}


def test_a_stored_analytics_state_from_the_future_is_discarded_on_restart(
    tmp_path: Path, services: Callable[[StageService], Running]
) -> None:
    bus = InMemoryBus()
    camera = unique("cam-zone-restart")
    scenes = scene_file(tmp_path, camera)
    start = time.time() - 30.0
    first_stay = [standing(camera, i, start + i / FPS, "p1", start) for i in range(20)]
    first = services(analytics_service(bus, scenes))
    publish_tracks(bus, *first_stay)
    wait_for("the first intrusion", lambda: intrusions(bus, camera))
    wait_for("the state saved", lambda: of_camera(bus, ANALYTICS_STATE, camera))
    first.close()

    document = json.loads(of_camera(bus, ANALYTICS_STATE, camera)[-1].value)
    document["last_time"] = YEAR_2099
    # The document is otherwise sound: a replica whose clock were past 2099 would resume it.
    AnalyticsHandler(load_scenes(scenes), guard=TimeGuard(clock=lambda: YEAR_2099 + 1.0)).load(
        camera, document
    )
    bus.append(Output(ANALYTICS_STATE, camera, json.dumps(document).encode()))
    before = discarded("analytics")

    second = services(analytics_service(bus, scenes))  # the restart
    later = start + 10.0  # another person, after the first left
    second_stay = [standing(camera, 100 + i, later + i / FPS, "p2", later) for i in range(20)]
    publish_tracks(bus, *second_stay)
    wait_for("a second intrusion", lambda: len(intrusions(bus, camera)) >= 2)
    wait_for(
        "every frame handled",
        lambda: second.service.handler.last_time.get(camera) == second_stay[-1].frame.captured_at,
    )
    second.close()

    first_event, second_event = intrusions(bus, camera)
    assert first_event.track_ids == (f"{camera}/p1",)
    assert second_event.track_ids == (f"{camera}/p2",)
    assert second_event.occurred_at == pytest.approx(later + MIN_DWELL_S)
    assert discarded("analytics") == before + 1
    assert stale("analytics", camera) == 0.0
    assert of_camera(bus, DEAD_LETTERS, camera) == []
