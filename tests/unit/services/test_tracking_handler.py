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
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.state import StateKeeper, TopicStateStore
from vigie_runtime.topics import DETECTIONS, TRACKER_STATE, TRACKS
from vigie_tracking.handler import TrackingHandler

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


class Replica:
    """A handler with the runtime's state keeper over a shared in-memory state topic: what the
    stage runner does around the handler, without the loop."""

    def __init__(self, bus: InMemoryBus, scenes: Mapping[str, SceneSpec] | None = None) -> None:
        self.bus = bus
        self.handler = TrackingHandler(PARAMS, scenes=scenes)
        store = TopicStateStore(bus, TRACKER_STATE)
        self.keeper = StateKeeper("tracking", self.handler, store, DETECTIONS, retry_s=0.0)

    def assign_all(self) -> Replica:
        count = self.bus.partition_count(DETECTIONS) or 1
        self.keeper.assigned([(DETECTIONS, p) for p in range(count)])
        return self

    def batch(self, messages: Sequence[Message]) -> list[Output]:
        """Handle a batch, then deliver the state of the cameras it touched."""
        outputs = feed(self.handler, messages)
        for message in messages:
            self.keeper.touched(message.camera_id or "", message.partition)
        for output in self.keeper.outputs():
            self.bus.append(output)
        return outputs


def resumed(bus: InMemoryBus, scenes: Mapping[str, SceneSpec] | None = None) -> TrackingHandler:
    """A new replica that was just assigned every partition."""
    return Replica(bus, scenes).assign_all().handler


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stale(camera: str) -> float:
    return sample("vigie_stale_messages_total", {"stage": "tracking", "camera": camera})


def discarded() -> float:
    return sample("vigie_state_discarded_total", {"stage": "tracking"})


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
    before = stale(camera)

    assert feed(handler, [messages[9 - back]]) == []

    assert stale(camera) - before == 1.0
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


# -- state ----------------------------------------------------------------------------------------


def test_state_is_one_json_document_per_camera_the_batch_touched() -> None:
    bus = InMemoryBus()
    replica = Replica(bus)

    replica.batch([*walk(range(5), "cam-b"), *walk(range(5), "cam-a")])

    states = bus.messages(TRACKER_STATE)
    assert sorted(m.key for m in states) == [b"cam-a", b"cam-b"]
    for message in states:
        assert json.loads(message.value)["camera_id"] == message.camera_id
    replica.batch(walk(range(5, 6), "cam-b"))
    assert [m.key for m in bus.messages(TRACKER_STATE)][2:] == [b"cam-b"]
    assert replica.keeper.outputs() == []  # nothing touched since


# -- restarts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("restart_at", [1, 2, 5, 12])
def test_restarted_handler_continues_the_same_tracks(restart_at: int) -> None:
    frames = walk(range(25))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)
    bus = InMemoryBus()
    Replica(bus).batch(frames[:restart_at])

    after = resumed(bus)
    again = feed(after, frames[restart_at:])

    assert [o.value for o in again] == [o.value for o in uninterrupted[restart_at:]]
    assert after.trackers[CAMERA].last_time == T0 + 24 / FPS


def test_restart_replaying_uncommitted_frames_skips_them_and_goes_on() -> None:
    """The state went out with frames 0-10, but the offsets committed stop before frame 6."""
    frames = walk(range(20))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)
    bus = InMemoryBus()
    Replica(bus).batch(frames[:11])
    after = resumed(bus)
    skipped = stale(CAMERA)

    again = feed(after, frames[6:])

    assert stale(CAMERA) - skipped == 5.0
    assert [o.value for o in again] == [o.value for o in uninterrupted[11:]]


def test_restart_through_several_batches_keeps_the_newest_state() -> None:
    frames = walk(range(30))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)
    bus = InMemoryBus()
    before = Replica(bus)
    for start in range(0, 20, 5):  # four batches, each followed by its state
        before.batch(frames[start : start + 5])
    assert len(bus.messages(TRACKER_STATE)) == 4

    again = feed(resumed(bus), frames[20:])

    assert [o.value for o in again] == [o.value for o in uninterrupted[20:]]


def test_restart_resumes_every_camera_from_its_own_state() -> None:
    a, b = walk(range(20), "cam-r-a"), walk(range(20), "cam-r-b")
    whole_a = feed(TrackingHandler(PARAMS), a)
    whole_b = feed(TrackingHandler(PARAMS), b)
    bus = InMemoryBus()
    Replica(bus).batch([*a[:8], *b[:12]])

    again = feed(resumed(bus), [*a[8:], *b[12:]])

    assert [o.value for o in again] == [o.value for o in (*whole_a[8:], *whole_b[12:])]


def test_restart_after_a_long_silence_ends_the_old_track_with_its_summary() -> None:
    frames = walk(range(10))
    bus = InMemoryBus()
    Replica(bus).batch(frames)
    after = resumed(bus)

    later = 10 + round(3 * PARAMS.lost_buffer_s * FPS)
    (output,) = feed(after, [message_of(detections(later))])

    (ended,) = codec.decode_tracks(output.value).ended
    (track_id,) = ids(feed(TrackingHandler(PARAMS), frames)[-1])
    assert ended.track_id == track_id
    assert ended.last_seen == T0 + 9 / FPS


def test_a_replica_restores_only_the_cameras_of_its_partitions_and_drops_revoked_ones() -> None:
    bus = InMemoryBus()
    cameras = [f"cam-part-{n}" for n in range(12)]
    Replica(bus).batch([m for camera in cameras for m in walk(range(5), camera)])
    partition = {m.camera_id: m.partition for m in bus.messages(TRACKER_STATE)}
    assert len(set(partition.values())) > 1  # the cameras are spread over partitions

    replica = Replica(bus)
    replica.keeper.assigned([(DETECTIONS, 0), (DETECTIONS, 1)])
    mine = {c for c, p in partition.items() if p in (0, 1)}
    assert set(replica.handler.trackers) == mine

    replica.keeper.revoked([(DETECTIONS, 0)])
    assert set(replica.handler.trackers) == {c for c, p in partition.items() if p == 1}


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
    bus = InMemoryBus()
    Replica(bus, SCENES).batch(frames[:25])  # inside the zone at the snapshot
    again = feed(resumed(bus, SCENES), frames[25:])
    assert [o.value for o in again] == [o.value for o in uninterrupted[25:]]
    assert ended_summaries(again)[0].seconds_in_zone["hall"] > 1.9


def test_unreadable_latest_state_falls_back_to_the_previous_one() -> None:
    frames = walk(range(20))
    uninterrupted = feed(TrackingHandler(PARAMS), frames)
    bus = InMemoryBus()
    Replica(bus).batch(frames[:10])
    for garbage in (b"\x00garbage", b"{not json", b"[1, 2, 3]"):
        bus.append(Output(TRACKER_STATE, CAMERA, garbage))

    again = feed(resumed(bus), frames[10:])

    assert [o.value for o in again] == [o.value for o in uninterrupted[10:]]


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
    errors = discarded()
    bus = InMemoryBus()
    bus.append(Output(TRACKER_STATE, CAMERA, json.dumps(state).encode()))

    outputs = feed(resumed(bus), frames)

    assert [o.value for o in outputs] == [o.value for o in fresh]
    assert discarded() == errors + 1


def test_state_of_another_camera_under_this_key_starts_afresh() -> None:
    """Key and value disagree (corruption, or a state written under the wrong key): the
    handler must start afresh, not track this camera with another camera's tracker."""
    elsewhere = TrackingHandler(PARAMS)
    feed(elsewhere, walk(range(5), "cam-elsewhere"))
    foreign = elsewhere.save("cam-elsewhere")
    frames = walk(range(10, 20))
    fresh = feed(TrackingHandler(PARAMS), frames)
    bus = InMemoryBus()
    bus.append(Output(TRACKER_STATE, CAMERA, json.dumps(foreign).encode()))

    outputs = feed(resumed(bus), frames)

    assert [o.value for o in outputs] == [o.value for o in fresh]
    assert CAMERA in bus.messages(TRACKER_STATE)[0].key.decode()


def test_a_camera_beyond_the_replicas_maximum_is_refused_not_tracked() -> None:
    """Camera ids come from the input: the trackers a replica keeps are bounded, and a camera
    beyond them is refused with a reason the runner dead-letters, never dropped in silence."""
    from vigie_runtime.stage import Reject

    handler = TrackingHandler(PARAMS, max_cameras=2)
    feed(handler, walk(range(3), "cam-a") + walk(range(3), "cam-b"))
    with pytest.raises(Reject, match="maximum of 2 cameras"):
        feed(handler, walk(range(1), "cam-c"))
    assert set(handler.trackers) == {"cam-a", "cam-b"}
    # The cameras it holds go on; one released on revoke makes room.
    assert feed(handler, walk(range(3, 4), "cam-a"))
    handler.drop("cam-b")
    assert feed(handler, walk(range(1), "cam-c"))
