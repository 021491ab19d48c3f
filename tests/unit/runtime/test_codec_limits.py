"""Range checks of every decoder: each absurd value is refused with a reason naming its field.

These are the messages a stage dead-letters with that reason; what they have in common is that
protobuf parses them fine, so only the codec stands between them and a stage's state.
"""

# One refusal per line in the table below reads better than wrapped ones.
# ruff: noqa: E501
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tests.unit.runtime.test_codec import alert, detections, event, frame_pb, summary, tracks
from tests.unit.runtime.test_codec import verdict as make_verdict
from vigie.v1 import audit_pb2
from vigie_core.types import AuditRecord, Box, Detection, FrameDetections, VerdictAction
from vigie_runtime import codec
from vigie_runtime.codec import DecodeError
from vigie_runtime.image_header import ImageLimits

YEAR_1 = Timestamp(seconds=-62_135_596_800)
YEAR_9999 = Timestamp(seconds=253_402_300_799)
MEGA = "x" * 1_000_000
LONG_ID = "c" * (codec.MAX_ID_CHARS + 1)
LONG_NAME = "n" * (codec.MAX_NAME_CHARS + 1)


def audit() -> AuditRecord:
    return AuditRecord(
        "rec-1", 1_700_000_000.0, "alice", "operator", "verdict.dismiss", "alr-1",
        reason="a shadow", request_id="req-1", camera_id="cam-1", details={"status": "dismissed"},
    )  # fmt: skip


def _walk(msg: Any, attr: str) -> tuple[Any, str]:
    """The message holding the last field of a dotted path (digits index repeated fields)."""
    *parents, name = attr.split(".")
    for part in parents:
        msg = msg[int(part)] if part.isdigit() else getattr(msg, part)
    return msg, name


def _set(attr: str, value: Any) -> Callable[[Any], None]:
    def mutate(msg: Any) -> None:
        target, name = _walk(msg, attr)
        if isinstance(value, Timestamp):
            getattr(target, name).CopyFrom(value)
        else:
            setattr(target, name, value)

    return mutate


def _extend(attr: str, n: int) -> Callable[[Any], None]:
    """Grow a repeated field to ``n`` items: copies of its first message, or new ids."""

    def mutate(msg: Any) -> None:
        target, name = _walk(msg, attr)
        field = getattr(target, name)
        if hasattr(field, "add"):
            template = field[0]
            for _ in range(n - len(field)):
                field.add().CopyFrom(template)
        else:
            field.extend(f"t-{i}" for i in range(n - len(field)))

    return mutate


def _map(attr: str, entries: dict[str, Any]) -> Callable[[Any], None]:
    def mutate(msg: Any) -> None:
        target, name = _walk(msg, attr)
        getattr(target, name).update(entries)

    return mutate


BUILD: dict[str, tuple[Callable[[], Any], Callable[[bytes], Any]]] = {
    "detections": (lambda: codec.detections_to_proto(detections()), codec.decode_detections),
    "tracks": (lambda: codec.tracks_to_proto(tracks()), codec.decode_tracks),
    "summary": (lambda: codec.track_summary_to_proto(summary()), codec.decode_track_summary),
    "event": (lambda: codec.event_to_proto(event()), codec.decode_event),
    "alert": (lambda: codec.alert_to_proto(alert()), codec.decode_alert),
    "verdict": (lambda: codec.verdict_to_proto(make_verdict()), codec.decode_verdict),
    "audit": (lambda: codec.audit_to_proto(audit()), codec.decode_audit),
    "frame": (frame_pb, codec.decode_frame),
}

# (message, what is done to it, the start of the reason: the field it names)
CASES: list[tuple[str, Callable[[Any], None], str]] = [
    # Detections.
    ("detections", _set("detections.0.box.x1", 1e9), "detections[0].box.x1 1000000000.0 is outside the frame"),
    ("detections", _set("detections.0.box.y2", -0.5), "detections[0].box.y2 -0.5 is outside the frame"),
    ("detections", _set("detections.0.box.x2", 1.02), "detections[0].box.x2 "),
    ("detections", _set("detections.0.class_name", MEGA), "detections[0].class_name is 1000000 characters long"),
    ("detections", _set("detections.0.colour", LONG_NAME), "detections[0].colour is 129 characters"),
    ("detections", _set("model", MEGA), "model is 1000000 characters"),
    ("detections", _extend("detections", codec.MAX_DETECTIONS + 1), "detections has 1001 items, above 1000"),
    ("detections", _set("frame.camera_id", LONG_ID), "frame.camera_id is 257 characters"),
    ("detections", _set("frame.captured_at", YEAR_1), "frame.captured_at.seconds -62135596800 is outside"),
    ("detections", _set("frame.captured_at", YEAR_9999), "frame.captured_at.seconds 253402300799 is outside"),
    ("detections", _set("frame.width", 10**9), "frame.width 1000000000 is above 65535"),
    # Tracks.
    ("tracks", _set("tracks.0.box.x2", 1e9), "tracks[0].box.x2 "),
    ("tracks", _set("tracks.1.track_id", MEGA), "tracks[1].track_id is 1000000 characters"),
    ("tracks", _set("tracks.0.class_name", LONG_NAME), "tracks[0].class_name is 129 characters"),
    ("tracks", _set("tracks.0.state", 0), "tracks[0].state is unspecified"),
    ("tracks", _set("tracks.0.state", 99), "tracks[0].state has unknown value 99"),
    ("tracks", _set("tracks.0.first_seen", YEAR_9999), "tracks[0].first_seen.seconds 253402300799"),
    ("tracks", _extend("tracks", codec.MAX_TRACKS + 1), "tracks has 1001 items, above 1000"),
    ("tracks", _extend("ended", codec.MAX_ENDED + 1), "ended has 1001 items, above 1000"),
    ("tracks", _extend("ended.0.path", codec.MAX_PATH_POINTS + 1), "ended[0].path has 10001 items"),
    ("tracks", _set("ended.0.camera_id", "cam-2"), "ended[0].camera_id 'cam-2' is not the frame's camera"),
    ("tracks", _set("ended.0.path.1.x", 1e9), "ended[0].path[1].x 1000000000.0 is outside the frame"),
    ("tracks", _set("ended.0.path.0.at", YEAR_1), "ended[0].path[0].at.seconds -62135596800"),
    ("tracks", _set("ended.0.colour", MEGA), "ended[0].colour is 1000000 characters"),
    ("tracks", _map("ended.0.seconds_in_zone", {LONG_NAME: 1.0}), "ended[0].seconds_in_zone zone 'nnnn"),
    ("tracks", _map("ended.0.seconds_in_zone", {f"z{i}": 1.0 for i in range(300)}), "ended[0].seconds_in_zone has 303 items, above 256"),
    # A track summary on its own.
    ("summary", _set("path.0.y", -1e9), "path[0].y -1000000000.0 is outside the frame"),
    ("summary", _set("camera_id", MEGA), "camera_id is 1000000 characters"),
    ("summary", _set("last_seen", YEAR_9999), "last_seen.seconds 253402300799"),
    # Events.
    ("event", _set("event_id", MEGA), "event_id is 1000000 characters"),
    ("event", _set("kind", 0), "kind is unspecified (vigie.v1.EventKind 0)"),
    ("event", _set("kind", 999), "kind has unknown value 999"),
    ("event", _set("zone", MEGA), "zone is 1000000 characters"),
    ("event", _set("class_name", LONG_NAME), "class_name is 129 characters"),
    ("event", _extend("track_ids", codec.MAX_TRACK_IDS + 1), "track_ids has 1001 items, above 1000"),
    ("event", _map("details", {"note": MEGA}), "details['note'] is 1000000 characters"),
    ("event", _map("details", {LONG_NAME: "1"}), "details key 'nnnn"),
    ("event", _map("details", {f"k{i}": "v" for i in range(70)}), "details has 73 items, above 64"),
    ("event", _set("frame.captured_at", YEAR_1), "frame.captured_at.seconds -62135596800"),
    # Alerts.
    ("alert", _set("alert_id", LONG_ID), "alert_id is 257 characters"),
    ("alert", _set("camera_id", MEGA), "camera_id is 1000000 characters"),
    ("alert", _set("severity", 0), "severity is unspecified"),
    ("alert", _set("severity", 42), "severity has unknown value 42"),
    ("alert", _set("status", 0), "status is unspecified"),
    ("alert", _set("kind", 0), "kind is unspecified"),
    ("alert", _set("reason", MEGA), "reason is 1000000 characters"),
    ("alert", _set("policy_version", LONG_NAME), "policy_version is 129 characters"),
    ("alert", _set("first_seen", YEAR_1), "first_seen.seconds -62135596800"),
    ("alert", _set("last_seen", YEAR_9999), "last_seen.seconds 253402300799"),
    ("alert", _set("frame.camera_id", "cam-2"), "frame.camera_id 'cam-2' is not the alert's camera"),
    ("alert", _extend("track_ids", codec.MAX_TRACK_IDS + 1), "track_ids has 1001 items"),
    # Verdicts.
    ("verdict", _set("action", 0), "action is unspecified"),
    ("verdict", _set("action", 7), "action has unknown value 7"),
    ("verdict", _set("reason", ""), "missing reason: a dismiss verdict must give one"),
    ("verdict", _set("reason", "   "), "missing reason: a dismiss verdict must give one"),
    ("verdict", _set("reason", MEGA), "reason is 1000000 characters"),
    ("verdict", _set("operator", MEGA), "operator is 1000000 characters"),
    ("verdict", _set("role", LONG_NAME), "role is 129 characters"),
    ("verdict", _set("verdict_id", LONG_ID), "verdict_id is 257 characters"),
    ("verdict", _set("decided_at", YEAR_9999), "decided_at.seconds 253402300799"),
    # Audit records.
    ("audit", _set("actor", MEGA), "actor is 1000000 characters"),
    ("audit", _set("action", LONG_NAME), "action is 129 characters"),
    ("audit", _set("subject", MEGA), "subject is 1000000 characters"),
    ("audit", _set("request_id", MEGA), "request_id is 1000000 characters"),
    ("audit", _set("camera_id", LONG_ID), "camera_id is 257 characters"),
    ("audit", _map("details", {f"k{i}": "v" for i in range(65)}), "details has 66 items, above 64"),
    ("audit", _set("at", YEAR_1), "at.seconds -62135596800"),
    # Frames.
    ("frame", _set("jpeg", b"\xff" * (8 * 1024 * 1024 + 1)), "jpeg of 8388609 bytes is above the limit of 8388608"),
    ("frame", lambda m: (_set("width", 30000)(m), _set("height", 30000)(m)), "width x height 30000x30000 is above the limit of 16777216 pixels"),
    ("frame", _set("session_id", MEGA), "session_id is 1000000 characters"),
    ("frame", _set("camera_id", MEGA), "camera_id is 1000000 characters"),
    ("frame", _set("captured_at", YEAR_9999), "captured_at.seconds 253402300799"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "mutate", "reason"), CASES, ids=[f"{k}:{r[:40]}" for k, _, r in CASES]
)
def test_absurd_values_are_refused_naming_their_field(
    kind: str, mutate: Callable[[Any], None], reason: str
) -> None:
    build, decode = BUILD[kind]
    msg = build()
    decode(msg.SerializeToString())  # the template itself is valid
    mutate(msg)
    with pytest.raises(DecodeError) as exc:
        decode(msg.SerializeToString())
    assert str(exc.value).startswith(reason), str(exc.value)[:300]


def test_every_limit_is_accepted_exactly() -> None:
    """At a limit is allowed; one above is not (the cases above)."""
    value = FrameDetections(
        frame=detections().frame,
        detections=tuple(
            Detection(Box(-0.01, -0.01, 1.01, 1.01), "p" * codec.MAX_NAME_CHARS, 0.5)
            for _ in range(codec.MAX_DETECTIONS)
        ),
        model="m" * codec.MAX_NAME_CHARS,
    )
    assert len(codec.decode_detections(codec.encode(value)).detections) == codec.MAX_DETECTIONS
    details = {f"k{i:0{codec.MAX_NAME_CHARS - 1}d}": "v" * codec.MAX_TEXT_CHARS for i in range(64)}
    ev = event(event_id="e" * codec.MAX_ID_CHARS, details=details)
    assert codec.decode_event(codec.encode(ev)) == ev


def test_a_closing_verdict_with_a_reason_and_an_acknowledgement_without_one_are_accepted() -> None:
    for action, reason in [
        (VerdictAction.CONFIRM, "seen on site"),
        (VerdictAction.ACKNOWLEDGE, ""),
    ]:
        v = make_verdict(action=action, reason=reason)
        assert codec.decode_verdict(codec.encode(v)) == v


# --------------------------------------------------------------------------------------------
# Key and body name the same camera.

KEYED: list[tuple[str, str]] = [
    ("detections", "frame.camera_id"),
    ("tracks", "frame.camera_id"),
    ("summary", "camera_id"),
    ("event", "frame.camera_id"),
    ("alert", "camera_id"),
    ("audit", "camera_id"),
    ("frame", "camera_id"),
]


@pytest.mark.parametrize(("kind", "field"), KEYED, ids=[k for k, _ in KEYED])
def test_the_key_must_name_the_body_camera(kind: str, field: str) -> None:
    build, decode = BUILD[kind]
    data = build().SerializeToString()
    assert decode(data, key=b"cam-1") == decode(data, key="cam-1") == decode(data)
    with pytest.raises(DecodeError, match=rf"^message key 'cam-2' differs from {field} 'cam-1'$"):
        decode(data, key=b"cam-2")
    with pytest.raises(DecodeError, match=rf"^message has no key, {field} is 'cam-1'$"):
        decode(data, key=None)
    with pytest.raises(DecodeError, match=r"^message key is not UTF-8$"):
        decode(data, key=b"\xff\xfe")


def test_verdicts_and_camera_less_records_take_any_key() -> None:
    v = codec.encode(make_verdict())
    assert codec.decode_verdict(v, key=b"cam-9") == codec.decode_verdict(v)
    record = codec.audit_to_proto(audit())
    record.camera_id = ""
    assert codec.decode_audit(record.SerializeToString(), key=None).camera_id == ""
    assert isinstance(record, audit_pb2.AuditRecord)


def test_a_frame_is_bounded_by_the_limits_it_is_given() -> None:
    data = frame_pb(width=3840, height=2160).SerializeToString()
    assert codec.decode_frame(data).width == 3840
    with pytest.raises(DecodeError, match=r"^width x height 3840x2160 is above the limit"):
        codec.decode_frame(data, limits=ImageLimits(max_pixels=640 * 480))
    with pytest.raises(DecodeError, match=r"^jpeg of \d+ bytes is above the limit of 10$"):
        codec.decode_frame(data, limits=ImageLimits(max_bytes=10))
