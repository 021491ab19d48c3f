"""Messages an attacker or a broken producer could put on every topic: decodable but absurd,
or not decodable at all. Each must end on the dead-letter topic with its reason and change
nothing else: the clip replayed after them must raise exactly the alerts it raises alone.

Times come in three kinds the stages must refuse: far in the future (the year 2099, an hour
ahead), far in the past behind the record's own timestamp (the year 1999), and values the
codec refuses outright. Times within the tolerated skew are not here on purpose: they are
legitimate, and what one can do is bounded by ``time.max_future_s``.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

from vigie.v1 import (
    alerts_pb2,
    audit_pb2,
    common_pb2,
    detections_pb2,
    events_pb2,
    frames_pb2,
    tracks_pb2,
    verdicts_pb2,
)
from vigie_runtime import codec
from vigie_runtime.topics import (
    ALERTS,
    AUDIT,
    DETECTIONS,
    EVENTS,
    FRAMES,
    TRACKS,
    VERDICTS,
)

GARBAGE = b"\x08\x96\x01 this is not a vigie message"
YEAR_2099 = 4_070_908_800.0
YEAR_1999 = 915_148_800.0


@dataclass(frozen=True)
class Hostile:
    topic: str
    key: str
    value: bytes
    what: str


def _png_header(width: int, height: int) -> bytes:
    """The first bytes of a PNG declaring ``width`` x ``height``: enough for a header check."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def _ref(camera: str, t: float, sequence: int = 1) -> common_pb2.FrameRef:
    return common_pb2.FrameRef(
        camera_id=camera,
        sequence=sequence,
        captured_at=codec.time_to_proto(t),
        width=640,
        height=480,
    )


def _box(x1: float = 0.1, y1: float = 0.1, x2: float = 0.2, y2: float = 0.3) -> common_pb2.Box:
    return common_pb2.Box(x1=x1, y1=y1, x2=x2, y2=y2)


def _frame(camera: str, t: float, width: int = 64, height: int = 48, jpeg: bytes = b"") -> bytes:
    return frames_pb2.Frame(
        camera_id=camera,
        sequence=1,
        captured_at=codec.time_to_proto(t),
        width=width,
        height=height,
        jpeg=jpeg or _png_header(width, height),
        session_id="hostile",
    ).SerializeToString()


def _detections(camera: str, t: float, box: common_pb2.Box | None = None) -> bytes:
    return detections_pb2.Detections(
        frame=_ref(camera, t),
        detections=[
            detections_pb2.Detection(box=box or _box(), class_name="person", confidence=0.9)
        ],
        model="hostile",
    ).SerializeToString()


def _tracks(camera: str, t: float, track_id: str = "hostile-1") -> bytes:
    return tracks_pb2.Tracks(
        frame=_ref(camera, t),
        tracks=[
            tracks_pb2.Track(
                track_id=track_id,
                class_name="person",
                box=_box(),
                confidence=0.9,
                state=tracks_pb2.TRACK_STATE_TRACKED,
                first_seen=codec.time_to_proto(t),
                hits=5,
            )
        ],
    ).SerializeToString()


def _event(camera: str, t: float, kind: int = 1, zone: str = "table") -> bytes:
    return events_pb2.Event(
        event_id=f"hostile-{kind}-{len(zone)}-{int(t)}",
        kind=kind,  # type: ignore[arg-type]
        frame=_ref(camera, t),
        zone=zone,
        class_name="person",
        track_ids=["hostile-1"],
        details={"dwell_s": "9"},
    ).SerializeToString()


def _alert(camera: str, t: float) -> bytes:
    stamp = codec.time_to_proto(t)
    return alerts_pb2.Alert(
        alert_id="hostile-alert",
        camera_id=camera,
        kind=events_pb2.EVENT_KIND_ZONE_INTRUSION,
        zone="table",
        severity=alerts_pb2.SEVERITY_HIGH,
        status=alerts_pb2.ALERT_STATUS_RAISED,
        first_event_id="hostile-event",
        first_seen=stamp,
        last_seen=stamp,
        count=1,
        frame=_ref(camera, t),
    ).SerializeToString()


def _verdict(alert_id: str, reason: str, t: float) -> bytes:
    return verdicts_pb2.Verdict(
        verdict_id=f"hostile-verdict-{alert_id}-{len(reason)}",
        alert_id=alert_id,
        action=verdicts_pb2.VERDICT_ACTION_DISMISS,
        operator="intruder",
        reason=reason,
        decided_at=codec.time_to_proto(t),
        role="operator",
    ).SerializeToString()


def _audit(camera: str, t: float) -> bytes:
    return audit_pb2.AuditRecord(
        record_id="hostile-record",
        at=codec.time_to_proto(t),
        actor="intruder",
        role="operator",
        action="verdict.dismiss",
        subject="hostile-alert",
        reason="covering tracks",
        camera_id=camera,
    ).SerializeToString()


def burst(camera: str, now: float | None = None) -> list[Hostile]:
    """The hostile messages, keyed by ``camera``; ``now`` is the wall clock they are made at."""
    now = time.time() if now is None else now
    hour_ahead = now + 3600.0
    huge = "x" * 1_000_000
    items: list[tuple[str, bytes, str]] = [
        (FRAMES, _frame(camera, YEAR_2099), "frame from 2099"),
        (FRAMES, _frame(camera, hour_ahead), "frame an hour ahead"),
        (FRAMES, _frame(camera, now, 30_000, 30_000), "frame declaring 30000x30000"),
        (DETECTIONS, _detections(camera, YEAR_2099), "detections from 2099"),
        (DETECTIONS, _detections(camera, hour_ahead), "detections an hour ahead"),
        (DETECTIONS, _detections(camera, YEAR_1999), "detections from 1999"),
        (DETECTIONS, _detections(camera, now, _box(0, 0, 1e9, 1e9)), "box of 1e9"),
        (DETECTIONS, _detections(camera, now, _box(float("nan"), 0, 1, 1)), "NaN box"),
        (TRACKS, _tracks(camera, YEAR_2099), "tracks from 2099"),
        (TRACKS, _tracks(camera, hour_ahead), "tracks an hour ahead"),
        (TRACKS, _tracks(camera, now, track_id=huge), "megabyte track id"),
        (EVENTS, _event(camera, YEAR_2099), "event from 2099"),
        (EVENTS, _event(camera, YEAR_1999), "event from 1999"),
        (EVENTS, _event(camera, now, kind=999), "event of an unknown kind"),
        (EVENTS, _event(camera, now, zone=huge), "event with a megabyte zone"),
        (ALERTS, _alert(camera, YEAR_2099), "alert from 2099"),
        (VERDICTS, _verdict("no-such-alert", "", now), "verdict without a reason"),
        (VERDICTS, _verdict("no-such-alert", "looks fine", now), "verdict, unknown alert"),
        (VERDICTS, _verdict("no-such-alert", "later", YEAR_2099), "verdict from 2099"),
        (AUDIT, _audit(camera, YEAR_2099), "journal record from 2099"),
    ]
    items += [(topic, GARBAGE, "not a vigie message") for topic in (FRAMES, DETECTIONS, TRACKS)]
    items += [(topic, GARBAGE, "not a vigie message") for topic in (EVENTS, ALERTS, VERDICTS)]
    return [Hostile(topic, camera, value, what) for topic, value, what in items]
