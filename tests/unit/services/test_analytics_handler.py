"""Analytics handler: tracks in, events out, one real scene analyser per configured camera."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY

from vigie_analytics.handler import AnalyticsHandler
from vigie_core.geometry import Polygon
from vigie_core.scene import SceneSpec, ZoneSpec
from vigie_core.types import Box, EventKind, FrameRef, FrameTracks, Track, TrackState
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.state import StateKeeper, TopicStateStore
from vigie_runtime.topics import ANALYTICS_STATE, EVENTS, TRACKS

CAMERA = "cam-loading-bay"
T0 = 1_700_000_000.0
FPS = 10
TRACK_ID = f"{CAMERA}/person-1"
MIN_DWELL_S = 1.0

# A person standing still, feet (bottom-centre 0.5, 0.8) inside the restricted area.
STANDING = Box(0.45, 0.4, 0.55, 0.8)


def scene(camera: str = CAMERA) -> SceneSpec:
    return SceneSpec(
        camera_id=camera,
        zones=(
            ZoneSpec(
                name="restricted",
                polygon=Polygon.of([(0.3, 0.6), (0.7, 0.6), (0.7, 1.0), (0.3, 1.0)]),
                classes=frozenset({"person"}),
                min_dwell_s=MIN_DWELL_S,
            ),
        ),
    )


def tracks_at(t: float, sequence: int, camera: str = CAMERA, box: Box = STANDING) -> FrameTracks:
    track = Track(
        track_id=TRACK_ID,
        class_name="person",
        box=box,
        confidence=0.9,
        state=TrackState.TRACKED,
        first_seen=T0,
        hits=sequence + 1,
    )
    return FrameTracks(frame=FrameRef(camera, sequence, t, 640, 480), tracks=(track,))


def message_of(value: FrameTracks, offset: int = 0) -> Message:
    camera = value.frame.camera_id
    return Message(TRACKS, 0, offset, camera.encode(), codec.encode(value))


def standing_messages(seconds: float, camera: str = CAMERA) -> list[Message]:
    """Tracks of one person standing in the zone, at FPS frames per second."""
    frames = round(seconds * FPS)
    return [message_of(tracks_at(T0 + i / FPS, i, camera), offset=i) for i in range(frames)]


def feed(handler: AnalyticsHandler, messages: Sequence[Message]) -> list[Output]:
    outputs: list[Output] = []
    for message in messages:
        outputs.extend(handler.handle(handler.decode(message), message))
    return outputs


def sample(name: str, stage: str, camera: str) -> float:
    return REGISTRY.get_sample_value(name, {"stage": stage, "camera": camera}) or 0.0


@pytest.fixture
def handler() -> AnalyticsHandler:
    return AnalyticsHandler({CAMERA: scene()})


# -- zone intrusion -------------------------------------------------------------------------------


def test_person_standing_in_zone_raises_one_zone_intrusion(handler: AnalyticsHandler) -> None:
    outputs = feed(handler, standing_messages(seconds=3.0))

    assert len(outputs) == 1
    (output,) = outputs
    assert output.topic == EVENTS
    assert output.key == CAMERA

    event = codec.decode_event(output.value)
    assert event.kind is EventKind.ZONE_INTRUSION
    assert event.zone == "restricted"
    assert event.class_name == "person"
    assert event.track_ids == (TRACK_ID,)
    assert event.camera_id == CAMERA
    # Raised on the first frame at which the dwell reached the threshold, and pointing at it.
    assert event.frame.sequence == round(MIN_DWELL_S * FPS)
    assert event.occurred_at == pytest.approx(T0 + MIN_DWELL_S)
    assert float(event.details["min_dwell_s"]) == MIN_DWELL_S
    assert float(event.details["dwell_s"]) == pytest.approx(MIN_DWELL_S, abs=1e-3)


def test_no_event_before_the_dwell_is_reached(handler: AnalyticsHandler) -> None:
    assert feed(handler, standing_messages(seconds=MIN_DWELL_S)) == []


def test_same_input_gives_the_same_event_id() -> None:
    first = feed(AnalyticsHandler({CAMERA: scene()}), standing_messages(seconds=2.0))
    second = feed(AnalyticsHandler({CAMERA: scene()}), standing_messages(seconds=2.0))

    assert [o.value for o in first] == [o.value for o in second]
    assert len(first) == 1


def test_person_outside_the_zone_raises_nothing(handler: AnalyticsHandler) -> None:
    outside = Box(0.05, 0.1, 0.15, 0.4)  # feet at (0.1, 0.4): above and left of the zone
    messages = [
        message_of(tracks_at(T0 + i / FPS, i, box=outside), offset=i) for i in range(3 * FPS)
    ]

    assert feed(handler, messages) == []


# -- a camera without a scene ---------------------------------------------------------------------


def test_camera_without_scene_gives_nothing_and_is_counted(handler: AnalyticsHandler) -> None:
    camera = "cam-not-configured"
    before = sample("vigie_unconfigured_camera_messages_total", "analytics", camera)

    outputs = feed(handler, standing_messages(seconds=2.0, camera=camera))

    assert outputs == []
    after = sample("vigie_unconfigured_camera_messages_total", "analytics", camera)
    assert after - before == 2.0 * FPS
    assert sample("vigie_unconfigured_camera_messages_total", "analytics", CAMERA) == 0.0


def test_unconfigured_camera_does_not_disturb_a_configured_one(handler: AnalyticsHandler) -> None:
    other = standing_messages(seconds=2.0, camera="cam-elsewhere")
    ours = standing_messages(seconds=2.0)
    interleaved = [m for pair in zip(other, ours, strict=True) for m in pair]

    outputs = feed(handler, interleaved)

    assert [codec.decode_event(o.value).camera_id for o in outputs] == [CAMERA]


def test_under_the_dead_letter_policy_an_unknown_camera_is_refused_with_its_reason() -> None:
    from vigie_runtime.stage import Reject

    strict = AnalyticsHandler({CAMERA: scene()}, unknown_cameras="dead-letter")
    with pytest.raises(Reject, match="'cam-stray' is not in the scene file"):
        feed(strict, standing_messages(seconds=0.1, camera="cam-stray"))
    assert feed(strict, standing_messages(seconds=2.0))  # the known camera goes on


# -- replays --------------------------------------------------------------------------------------


def test_replayed_tracks_give_nothing_and_are_counted_stale() -> None:
    camera = "cam-replayed"
    handler = AnalyticsHandler({camera: scene(camera)})
    messages = standing_messages(seconds=2.0, camera=camera)
    assert len(feed(handler, messages)) == 1
    before = sample("vigie_stale_messages_total", "analytics", camera)

    # The last message again (same captured_at), then an older one.
    replayed = feed(handler, [messages[-1], messages[len(messages) // 2]])

    assert replayed == []
    after = sample("vigie_stale_messages_total", "analytics", camera)
    assert after - before == 2.0


def test_replay_of_the_raising_frame_does_not_raise_again() -> None:
    camera = "cam-replay-raise"
    handler = AnalyticsHandler({camera: scene(camera)})
    messages = standing_messages(seconds=1.5, camera=camera)
    raising = round(MIN_DWELL_S * FPS)
    assert len(feed(handler, messages[: raising + 1])) == 1

    # Redelivered from the raising frame on, as after a restart before the commit.
    assert feed(handler, messages[raising:]) == []


def test_stale_counter_is_per_camera() -> None:
    a, b = "cam-stale-a", "cam-stale-b"
    handler = AnalyticsHandler({a: scene(a), b: scene(b)})
    first_a = standing_messages(seconds=0.2, camera=a)
    first_b = standing_messages(seconds=0.2, camera=b)
    feed(handler, [*first_a, *first_b])
    before_a = sample("vigie_stale_messages_total", "analytics", a)
    before_b = sample("vigie_stale_messages_total", "analytics", b)

    feed(handler, [first_a[0]])

    assert sample("vigie_stale_messages_total", "analytics", a) - before_a == 1.0
    assert sample("vigie_stale_messages_total", "analytics", b) - before_b == 0.0


def test_malformed_tracks_raise_from_decode(handler: AnalyticsHandler) -> None:
    with pytest.raises(codec.DecodeError):
        handler.decode(Message(TRACKS, 0, 0, CAMERA.encode(), b"\xff\xff garbage"))


# -- per-camera state across restarts -------------------------------------------------------------


def restarted(bus: InMemoryBus, scenes: dict[str, SceneSpec] | None = None) -> AnalyticsHandler:
    """A new replica, assigned every partition, reading back the state on ``bus``."""
    handler = AnalyticsHandler(scenes or {CAMERA: scene()})
    keeper = StateKeeper("analytics", handler, TopicStateStore(bus, ANALYTICS_STATE), TRACKS)
    keeper.assigned([(TRACKS, p) for p in range(bus.partition_count(TRACKS) or 1)])
    return handler


def save_after(handler: AnalyticsHandler, bus: InMemoryBus, messages: Sequence[Message]) -> None:
    """Handle a batch and deliver the state it changed, as the stage runner does."""
    keeper = StateKeeper("analytics", handler, TopicStateStore(bus, ANALYTICS_STATE), TRACKS)
    feed(handler, messages)
    for message in messages:
        keeper.touched(message.camera_id or "", message.partition)
    for output in keeper.outputs():
        bus.append(output)


@pytest.mark.parametrize("crash_at", [3, 5, 9, 15, 25])
def test_a_restart_mid_dwell_raises_the_intrusion_once_and_on_time(crash_at: int) -> None:
    """Killed ``crash_at`` frames into a stay: the next replica neither restarts the dwell (a
    late alert) nor raises again a stay already signalled (a duplicate)."""
    messages = standing_messages(seconds=3.0)
    uninterrupted = feed(AnalyticsHandler({CAMERA: scene()}), messages)
    bus = InMemoryBus()
    save_after(AnalyticsHandler({CAMERA: scene()}), bus, messages[:crash_at])
    before = [o for o in uninterrupted if codec.decode_event(o.value).frame.sequence < crash_at]

    after = feed(restarted(bus), messages[crash_at:])

    assert [o.value for o in before + after] == [o.value for o in uninterrupted]
    assert len(uninterrupted) == 1


def test_replayed_frames_after_a_restart_are_skipped() -> None:
    """The state went out with frames 0-14, but the committed offsets stop at frame 6."""
    messages = standing_messages(seconds=3.0)
    bus = InMemoryBus()
    save_after(AnalyticsHandler({CAMERA: scene()}), bus, messages[:15])
    stale = sample("vigie_stale_messages_total", "analytics", CAMERA)

    outputs = feed(restarted(bus), messages[6:])

    assert outputs == []  # the intrusion (frame 10) went out before the crash
    assert sample("vigie_stale_messages_total", "analytics", CAMERA) - stale == 9


def test_a_state_taken_under_another_scene_is_refused_and_the_camera_starts_afresh() -> None:
    messages = standing_messages(seconds=3.0)
    bus = InMemoryBus()
    save_after(AnalyticsHandler({CAMERA: scene()}), bus, messages[:5])
    moved = SceneSpec(
        camera_id=CAMERA,
        zones=(
            ZoneSpec(
                name="restricted",
                polygon=Polygon.of([(0.2, 0.6), (0.7, 0.6), (0.7, 1.0), (0.2, 1.0)]),
                classes=frozenset({"person"}),
                min_dwell_s=MIN_DWELL_S,
            ),
        ),
    )
    discarded = REGISTRY.get_sample_value("vigie_state_discarded_total", {"stage": "analytics"})

    handler = restarted(bus, {CAMERA: moved})

    assert handler.last_time == {}
    after = REGISTRY.get_sample_value("vigie_state_discarded_total", {"stage": "analytics"})
    assert (after or 0) - (discarded or 0) == 1


def test_a_revoked_camera_keeps_its_scene_and_forgets_its_measures() -> None:
    handler = AnalyticsHandler({CAMERA: scene()})
    feed(handler, standing_messages(seconds=0.5))
    assert handler.save(CAMERA) is not None

    handler.drop(CAMERA)

    assert handler.save(CAMERA) is None
    assert handler.analyzers[CAMERA].scene == scene()
    assert handler.analyzers[CAMERA].tracked_count() == 0


@pytest.mark.parametrize(
    "document",
    [
        {"version": 2, "last_time": T0, "analyzer": {}},
        {"version": 1, "last_time": float("nan"), "analyzer": {}},
        {"version": 1, "last_time": T0, "analyzer": "none"},
        {"version": 1, "last_time": T0, "analyzer": {"version": 1}},
    ],
    ids=["version", "nan-time", "analyzer-not-an-object", "truncated-analyzer"],
)
def test_an_unusable_document_is_refused_with_the_field(document: dict[str, object]) -> None:
    handler = AnalyticsHandler({CAMERA: scene()})
    with pytest.raises(ValueError):
        handler.load(CAMERA, document)
    with pytest.raises(ValueError, match="no scene"):
        handler.load("cam-unknown", {"version": 1, "last_time": T0, "analyzer": {}})
