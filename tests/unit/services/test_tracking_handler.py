"""Tracking handler: detections in, tracks out, and tracker state carried across restarts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY

from vigie_core.geometry import Polygon
from vigie_core.scene import SceneSpec, ZoneSpec
from vigie_core.tracking import TrackerParams
from vigie_core.types import Box, Detection, FrameDetections, FrameRef, TrackState
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import DETECTIONS, TRACKER_STATE, TRACKS
from vigie_tracking.handler import TrackingHandler, latest_states

CAMERA = "cam-hall"
T0 = 1_700_000_000.0
FPS = 10
PARAMS = TrackerParams(min_hits=3, lost_buffer_s=1.5)


# -- inputs ---------------------------------------------------------------------------------------


def person_at(i: int) -> Detection:
    """A person walking right at 0.1 of the frame width per second (0.01 per frame at 10 fps)."""
    x = 0.1 + 0.01 * i
    return Detection(Box(x, 0.3, x + 0.1, 0.8), "person", 0.9)


def detections(i: int, camera: str = CAMERA) -> FrameDetections:
    """Frame ``i`` of the walk, captured ``i / FPS`` seconds after T0."""
    return FrameDetections(
        frame=FrameRef(camera, i, T0 + i / FPS, 640, 480),
        detections=(person_at(i),),
        model="fake",
    )


def message_of(value: FrameDetections) -> Message:
    camera = value.frame.camera_id
    return Message(DETECTIONS, 0, value.frame.sequence, camera.encode(), codec.encode(value))


def walk(frames: range, camera: str = CAMERA) -> list[Message]:
    return [message_of(detections(i, camera)) for i in frames]


def feed(handler: TrackingHandler, messages: Sequence[Message]) -> list[Output]:
    outputs: list[Output] = []
    for message in messages:
        outputs.extend(handler.handle(handler.decode(message), message))
    return outputs


def state_messages(outputs: Sequence[Output]) -> list[Message]:
    """What a replica would read back from the state topic after these were published."""
    return [Message(o.topic, 0, n, o.key.encode(), o.value) for n, o in enumerate(outputs)]


class CountingReader:
    """A state reader over a fixed set of state-topic messages, counting its calls."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self.messages = list(messages)
        self.calls = 0

    def __call__(self) -> Mapping[str, Mapping[str, Any]]:
        self.calls += 1
        return latest_states(self.messages)


class Clock:
    """The handler's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stale(camera: str) -> float:
    return sample("vigie_stale_messages_total", {"stage": "tracking", "camera": camera})


def state_errors() -> float:
    return sample("vigie_errors_total", {"stage": "tracking", "kind": "state"})


def ids(output: Output) -> list[str]:
    return [t.track_id for t in codec.decode_tracks(output.value).tracks]


# -- tracks out -----------------------------------------------------------------------------------


def test_walking_person_gets_one_stable_id_after_confirmation() -> None:
    handler = TrackingHandler(PARAMS)

    outputs = feed(handler, walk(range(20)))

    assert len(outputs) == 20  # every frame is published, even before anything is confirmed
    assert {(o.topic, o.key) for o in outputs} == {(TRACKS, CAMERA)}
    decoded = [codec.decode_tracks(o.value) for o in outputs]
    assert [d.frame.sequence for d in decoded] == list(range(20))
    assert [d.tracks for d in decoded[: PARAMS.min_hits - 1]] == [(), ()]

    confirmed = decoded[PARAMS.min_hits - 1 :]
    (track_id,) = {t.track_id for d in confirmed for t in d.tracks}
    assert track_id.startswith(f"{CAMERA}/")
    assert all(len(d.tracks) == 1 for d in confirmed)
    assert confirmed[0].tracks[0].state is TrackState.NEW
    assert {d.tracks[0].state for d in confirmed[1:]} == {TrackState.TRACKED}
    assert confirmed[-1].tracks[0].velocity[0] == pytest.approx(0.1, rel=0.2)


def test_same_frames_give_the_same_bytes_on_a_fresh_handler() -> None:
    first = feed(TrackingHandler(PARAMS), walk(range(15)))
    second = feed(TrackingHandler(PARAMS), walk(range(15)))

    assert [o.value for o in first] == [o.value for o in second]


@pytest.mark.parametrize("back", [0, 1, 5], ids=["same-time", "one-older", "five-older"])
def test_replayed_frame_gives_nothing_and_is_counted_stale(back: int) -> None:
    camera = f"cam-replay-{back}"
    handler = TrackingHandler(PARAMS)
    messages = walk(range(10), camera)
    feed(handler, messages)
    handler.snapshots()
    before = stale(camera)

    assert feed(handler, [messages[9 - back]]) == []

    assert stale(camera) - before == 1.0
    assert handler.snapshots() == []  # a skipped frame touches no state
    # The tracker was not disturbed: the next frame continues as if nothing had happened.
    (after,) = feed(handler, walk(range(10, 11), camera))
    (reference,) = feed(TrackingHandler(PARAMS), walk(range(11), camera))[-1:]
    assert after.value == reference.value


def test_two_cameras_get_separate_trackers_and_prefixed_ids() -> None:
    handler = TrackingHandler(PARAMS)
    a, b = walk(range(10), "cam-a"), walk(range(10), "cam-b")
    interleaved = [m for pair in zip(a, b, strict=True) for m in pair]

    outputs = feed(handler, interleaved)

    by_camera = {camera: [o for o in outputs if o.key == camera] for camera in ("cam-a", "cam-b")}
    assert {camera: len(outs) for camera, outs in by_camera.items()} == {"cam-a": 10, "cam-b": 10}
    id_a = {i for o in by_camera["cam-a"] for i in ids(o)}
    id_b = {i for o in by_camera["cam-b"] for i in ids(o)}
    assert len(id_a) == len(id_b) == 1
    assert next(iter(id_a)).startswith("cam-a/")
    assert next(iter(id_b)).startswith("cam-b/")
    assert set(handler.trackers) == {"cam-a", "cam-b"}
    # Each camera's tracks are exactly what a handler seeing that camera alone gives.
    assert [o.value for o in by_camera["cam-a"]] == [
        o.value for o in feed(TrackingHandler(PARAMS), a)
    ]


def test_a_frame_older_on_one_camera_is_not_stale_for_another() -> None:
    handler = TrackingHandler(PARAMS)
    feed(handler, walk(range(10), "cam-late-a"))
    before = stale("cam-late-b")

    outputs = feed(handler, walk(range(3), "cam-late-b"))

    assert len(outputs) == 3
    assert stale("cam-late-b") == before


def test_malformed_detections_raise_from_decode() -> None:
    handler = TrackingHandler(PARAMS)
    with pytest.raises(codec.DecodeError):
        handler.decode(Message(DETECTIONS, 0, 0, CAMERA.encode(), b"\xff\xff garbage"))


# -- state snapshots ------------------------------------------------------------------------------


def test_snapshots_one_json_output_per_touched_camera() -> None:
    handler = TrackingHandler(PARAMS)
    assert handler.snapshots() == []

    feed(handler, [*walk(range(5), "cam-b"), *walk(range(5), "cam-a")])
    outputs = handler.snapshots()

    assert [(o.topic, o.key) for o in outputs] == [
        (TRACKER_STATE, "cam-a"),
        (TRACKER_STATE, "cam-b"),
    ]
    for output in outputs:
        assert isinstance(json.loads(output.value), dict)
    assert handler.snapshots() == []  # nothing touched since

    feed(handler, walk(range(5, 6), "cam-b"))
    assert [o.key for o in handler.snapshots()] == ["cam-b"]


# -- restarts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("restart_at", [1, 2, 5, 12])
def test_restarted_handler_continues_the_same_tracks(restart_at: int) -> None:
    frames = walk(range(25))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)

    before = TrackingHandler(PARAMS)
    feed(before, frames[:restart_at])
    stored = state_messages(before.snapshots())

    after = TrackingHandler(PARAMS, read_states=lambda: latest_states(stored))
    resumed = feed(after, frames[restart_at:])

    assert [o.value for o in resumed] == [o.value for o in uninterrupted[restart_at:]]
    assert after.trackers[CAMERA].last_time == T0 + 24 / FPS


def test_restart_replaying_uncommitted_frames_skips_them_and_goes_on() -> None:
    """The state went out with frames 0-10, but the offsets committed stop before frame 6."""
    frames = walk(range(20))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)
    before = TrackingHandler(PARAMS)
    feed(before, frames[:11])
    stored = state_messages(before.snapshots())
    after = TrackingHandler(PARAMS, read_states=lambda: latest_states(stored))
    skipped = stale(CAMERA)

    resumed = feed(after, frames[6:])

    assert stale(CAMERA) - skipped == 5.0
    assert [o.value for o in resumed] == [o.value for o in uninterrupted[11:]]


def test_restart_through_several_batches_keeps_the_newest_state() -> None:
    frames = walk(range(30))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)
    before = TrackingHandler(PARAMS)
    published: list[Output] = []
    for start in range(0, 20, 5):  # four batches, each followed by its snapshot
        feed(before, frames[start : start + 5])
        published.extend(before.snapshots())
    assert len(published) == 4

    after = TrackingHandler(PARAMS, read_states=lambda: latest_states(state_messages(published)))
    resumed = feed(after, frames[20:])

    assert [o.value for o in resumed] == [o.value for o in uninterrupted[20:]]


def test_restart_resumes_every_camera_from_its_own_state() -> None:
    a, b = walk(range(20), "cam-r-a"), walk(range(20), "cam-r-b")
    whole_a = feed(TrackingHandler(PARAMS), a)
    whole_b = feed(TrackingHandler(PARAMS), b)
    before = TrackingHandler(PARAMS)
    feed(before, [*a[:8], *b[:12]])
    stored = state_messages(before.snapshots())

    after = TrackingHandler(PARAMS, read_states=lambda: latest_states(stored))
    resumed = feed(after, [*a[8:], *b[12:]])

    assert [o.value for o in resumed] == [o.value for o in (*whole_a[8:], *whole_b[12:])]


def test_restart_after_a_long_silence_ends_the_old_track_with_its_summary() -> None:
    frames = walk(range(10))
    before = TrackingHandler(PARAMS)
    feed(before, frames)
    stored = state_messages(before.snapshots())
    after = TrackingHandler(PARAMS, read_states=lambda: latest_states(stored))

    later = 10 + round(3 * PARAMS.lost_buffer_s * FPS)
    (output,) = feed(after, [message_of(detections(later))])

    (ended,) = codec.decode_tracks(output.value).ended
    (track_id,) = ids(feed(TrackingHandler(PARAMS), frames)[-1])
    assert ended.track_id == track_id
    assert ended.last_seen == T0 + 9 / FPS


# -- zones ----------------------------------------------------------------------------------------

# The walk's anchor (bottom-centre) goes along y 0.8 from x 0.15 at 0.1 per second: inside this
# zone from x 0.3 to 0.5, i.e. frames 15 to 35.
HALL_ZONE = ZoneSpec("hall", Polygon(((0.3, 0.7), (0.5, 0.7), (0.5, 0.9), (0.3, 0.9))))
SCENES = {CAMERA: SceneSpec(CAMERA, zones=(HALL_ZONE,))}


def ended_summaries(outputs: Sequence[Output]) -> list[Any]:
    return [s for o in outputs for s in codec.decode_tracks(o.value).ended]


def test_summaries_say_how_long_each_track_spent_in_its_camera_s_zones() -> None:
    handler = TrackingHandler(PARAMS, scenes=SCENES)
    outputs = feed(handler, [*walk(range(50)), message_of(detections(80))])
    (summary,) = ended_summaries(outputs)
    assert summary.seconds_in_zone == {"hall": pytest.approx(2.0, abs=0.1)}


def test_cameras_without_a_scene_report_no_zone_time() -> None:
    handler = TrackingHandler(PARAMS, scenes=SCENES)
    other = "cam-without-scene"
    outputs = feed(handler, [*walk(range(50), other), message_of(detections(80, other))])
    (summary,) = ended_summaries(outputs)
    assert summary.seconds_in_zone == {}


def test_a_resumed_tracker_keeps_counting_in_its_zones() -> None:
    frames = [*walk(range(50)), message_of(detections(80))]
    uninterrupted = feed(TrackingHandler(PARAMS, scenes=SCENES), frames)
    before = TrackingHandler(PARAMS, scenes=SCENES)
    feed(before, frames[:25])  # inside the zone at the snapshot
    stored = state_messages(before.snapshots())
    after = TrackingHandler(PARAMS, read_states=lambda: latest_states(stored), scenes=SCENES)
    resumed = feed(after, frames[25:])
    assert [o.value for o in resumed] == [o.value for o in uninterrupted[25:]]
    assert ended_summaries(resumed)[0].seconds_in_zone["hall"] > 1.9


def test_latest_states_keeps_the_newest_readable_state_per_camera() -> None:
    handler = TrackingHandler(PARAMS)
    feed(handler, walk(range(3)))
    older = handler.snapshots()
    feed(handler, walk(range(3, 6)))
    newer = handler.snapshots()
    messages = [
        Message(TRACKER_STATE, 0, 0, CAMERA.encode(), older[0].value),
        Message(TRACKER_STATE, 0, 1, CAMERA.encode(), newer[0].value),
        Message(TRACKER_STATE, 0, 2, CAMERA.encode(), b"{not json"),  # corrupt: skipped
        Message(TRACKER_STATE, 0, 3, CAMERA.encode(), b"\xff\xfe\x00"),  # not even text
        Message(TRACKER_STATE, 0, 4, CAMERA.encode(), b"[1, 2, 3]"),  # not a state object
        Message(TRACKER_STATE, 0, 5, None, newer[0].value),  # no camera key
        Message(TRACKER_STATE, 1, 0, b"cam-other", older[0].value),
    ]

    states = latest_states(list(reversed(messages)))  # read order does not matter

    assert set(states) == {CAMERA, "cam-other"}
    assert states[CAMERA] == json.loads(newer[0].value)


def test_corrupt_latest_state_falls_back_to_the_previous_one() -> None:
    frames = walk(range(20))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)
    before = TrackingHandler(PARAMS)
    feed(before, frames[:10])
    stored = state_messages(before.snapshots())
    stored.append(Message(TRACKER_STATE, 0, len(stored), CAMERA.encode(), b"\x00garbage"))

    after = TrackingHandler(PARAMS, read_states=lambda: latest_states(stored))
    resumed = feed(after, frames[10:])

    assert [o.value for o in resumed] == [o.value for o in uninterrupted[10:]]


@pytest.mark.parametrize(
    "state",
    [
        pytest.param({"version": 99}, id="future-version"),
        pytest.param({}, id="empty"),
        pytest.param({"version": "one"}, id="version-not-a-number"),
        pytest.param(
            {"version": 1, "camera_id": CAMERA, "last_time": T0, "tracks": [{"track_id": "x"}]},
            id="truncated-track",
        ),
        pytest.param(
            {"version": 1, "camera_id": CAMERA, "last_time": T0, "tracks": "none"},
            id="tracks-not-a-list",
        ),
    ],
)
def test_unusable_state_starts_afresh_without_raising(state: dict[str, Any]) -> None:
    frames = walk(range(10, 20))
    fresh = feed(TrackingHandler(PARAMS), frames)
    errors = state_errors()

    handler = TrackingHandler(PARAMS, read_states=lambda: {CAMERA: state})
    outputs = feed(handler, frames)

    assert [o.value for o in outputs] == [o.value for o in fresh]
    assert state_errors() == errors + 1  # looked at once, on the camera's first frame


def test_stored_state_older_than_our_own_is_not_applied() -> None:
    frames = walk(range(20))
    elsewhere = TrackingHandler(PARAMS)
    feed(elsewhere, frames[:10])
    older = state_messages(elsewhere.snapshots())

    handler = TrackingHandler(PARAMS, read_states=lambda: latest_states(older))
    reference = TrackingHandler(PARAMS)
    feed(handler, frames)
    feed(reference, frames)
    # After a silence longer than the lost buffer the handler consults the stored state, which
    # is older than what it holds itself: it must keep its own.
    later = [message_of(detections(i)) for i in range(40, 45)]

    outputs = feed(handler, later)

    assert [o.value for o in outputs] == [o.value for o in feed(reference, later)]
    (ended,) = codec.decode_tracks(outputs[0].value).ended
    assert ended.last_seen == T0 + 19 / FPS  # not 0.9 s, where the stored state stopped


def replicas_sharing_a_state_topic(
    clock: Clock,
) -> tuple[TrackingHandler, TrackingHandler, list[Output]]:
    published: list[Output] = []

    def read() -> Mapping[str, Mapping[str, Any]]:
        return latest_states(state_messages(published))

    here = TrackingHandler(PARAMS, read_states=read, clock=clock)
    there = TrackingHandler(PARAMS, read_states=read, clock=clock)
    return here, there, published


def test_newer_state_from_another_replica_is_taken_after_a_silence() -> None:
    """The partition went to another replica and came back: its newer state wins."""
    frames = walk(range(40))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)
    clock = Clock()
    here, there, published = replicas_sharing_a_state_topic(clock)
    feed(here, frames[:10])
    published.extend(here.snapshots())
    feed(there, frames[10:30])
    published.extend(there.snapshots())
    clock.now += 60.0  # the reading ``here`` took at its start has expired

    back = feed(here, frames[30:])  # 2 s after its last frame: longer than the lost buffer

    assert [o.value for o in back] == [o.value for o in uninterrupted[30:]]


@pytest.mark.parametrize("scenario", ["came-back", "newly-assigned"])
def test_newest_state_is_taken_even_soon_after_an_earlier_reading(scenario: str) -> None:
    frames = walk(range(40))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)
    clock = Clock()
    here, there, published = replicas_sharing_a_state_topic(clock)
    if scenario == "came-back":
        feed(here, frames[:10])
    else:
        feed(here, walk(range(10), "cam-other"))  # reads the (still empty) state topic
    published.extend(here.snapshots())
    feed(there, frames[:30] if scenario == "newly-assigned" else frames[10:30])
    published.extend(there.snapshots())
    clock.now += 1.0  # well within refresh_s: the handler's reading is still "fresh"

    moved = feed(here, frames[30:])

    assert [o.value for o in moved] == [o.value for o in uninterrupted[30:]]


def test_state_of_another_camera_under_this_key_starts_afresh() -> None:
    """Key and value disagree (corruption, or a state written under the wrong key): the
    handler must start afresh, not track this camera with another camera's tracker."""
    elsewhere = TrackingHandler(PARAMS)
    feed(elsewhere, walk(range(5), "cam-elsewhere"))
    (foreign,) = elsewhere.snapshots()
    frames = walk(range(10, 20))
    fresh = feed(TrackingHandler(PARAMS), frames)

    handler = TrackingHandler(PARAMS, read_states=lambda: {CAMERA: json.loads(foreign.value)})
    outputs = feed(handler, frames)

    assert [o.value for o in outputs] == [o.value for o in fresh]


def test_states_are_read_once_and_refreshed_after_refresh_s() -> None:
    clock = Clock()
    read = CountingReader([])
    handler = TrackingHandler(PARAMS, read_states=read, refresh_s=5.0, clock=clock)

    feed(handler, [*walk(range(3), "cam-s-a"), *walk(range(3), "cam-s-b")])
    assert read.calls == 1  # each new camera looked, from one reading

    clock.now = 10.0
    feed(handler, walk(range(3), "cam-s-c"))
    assert read.calls == 2

    feed(handler, walk(range(3, 10), "cam-s-a"))  # no silence: no look at stored state
    assert read.calls == 2
