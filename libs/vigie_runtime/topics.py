"""Every topic Vigie uses, with its partition count and configuration, in one place.

Keys are camera ids everywhere, so one camera's messages stay in order on one partition and a
per-camera stage scales by partitions. Frames are short-lived; what is derived from them is small
and kept longer. Retention figures are defaults a deployment overrides per site policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    purpose: str
    config: dict[str, str] = field(default_factory=dict)


FRAMES = "vigie.frames.v1"
DETECTIONS = "vigie.detections.v1"
TRACKS = "vigie.tracks.v1"
EVENTS = "vigie.events.v1"
ALERTS = "vigie.alerts.v1"
# The alerts again as JSON (protobuf's JSON mapping, field names as in the .proto), for consumers
# without protobuf; written only when alerting's alerts_json_mirror is on.
ALERTS_JSON = "vigie.alerts.json.v1"
VERDICTS = "vigie.verdicts.v1"
DEAD_LETTERS = "vigie.dead-letters.v1"
# The audit journal: every alert, refusal, escalation, verdict, search, export and config change.
AUDIT = "vigie.audit.v1"
# Internal to the tracking service: the latest tracker state per camera (JSON, versioned), so a
# restarted or rebalanced replica resumes a camera's tracks with the same ids.
TRACKER_STATE = "vigie.tracker-state.v1"
# Internal to the analytics service: the latest analytics state per camera (JSON, versioned). A
# replica that takes a tracks partition over reads its cameras' state back from the partition of
# the same number, so this topic has exactly as many partitions as the tracks topic.
ANALYTICS_STATE = "vigie.analytics-state.v1"
# Internal to the alerting service when a stage runner drives it (the single process): the
# latest alert book per camera (JSON), partitioned like the events it follows.
ALERTING_STATE = "vigie.alerting-state.v1"
# Capture's watch over its cameras: the latest vigie.v1.CameraStatus per camera (online,
# stalled, offline), published on every change and as a heartbeat; compacted.
CAMERA_STATUS = "vigie.camera-status.v1"

# Created and used by the alerting stream application itself, named after its application id
# (the alerting consumer group): the state table's changelog, partitioned like the events so a
# camera's state sits on its events' partition number, and the leader assignor's topic.
ALERT_STATE_CHANGELOG = "vigie-alerting-alert-state-changelog"
ALERTING_ASSIGNOR = "vigie-alerting-__assignor-__leader"

PARTITIONS = 6


def _state_config() -> dict[str, str]:
    """Per-camera state snapshots: only the latest per key is kept. A camera with many long
    tracks carries ~20 kB of path per track, hence the large message limit."""
    return {
        "cleanup.policy": "compact",
        "retention.ms": str(DAY_MS),
        "max.message.bytes": str(8 * 1024 * 1024),
    }


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        FRAMES,
        PARTITIONS,
        "JPEG frames from capture",
        {"retention.ms": str(10 * MINUTE_MS), "max.message.bytes": str(8 * 1024 * 1024)},
    ),
    TopicSpec(DETECTIONS, PARTITIONS, "detections per frame", {"retention.ms": str(HOUR_MS)}),
    TopicSpec(TRACKS, PARTITIONS, "confirmed tracks per frame", {"retention.ms": str(DAY_MS)}),
    TopicSpec(EVENTS, PARTITIONS, "analytics events", {"retention.ms": str(7 * DAY_MS)}),
    TopicSpec(ALERTS, PARTITIONS, "alerts for operators", {"retention.ms": str(30 * DAY_MS)}),
    TopicSpec(
        ALERTS_JSON,
        PARTITIONS,
        "alerts for operators, as JSON (optional mirror)",
        {"retention.ms": str(30 * DAY_MS)},
    ),
    TopicSpec(VERDICTS, PARTITIONS, "operators' verdicts", {"retention.ms": str(365 * DAY_MS)}),
    TopicSpec(AUDIT, PARTITIONS, "audit journal records", {"retention.ms": str(400 * DAY_MS)}),
    TopicSpec(
        TRACKER_STATE, PARTITIONS, "latest tracker state per camera (compacted)", _state_config()
    ),
    TopicSpec(
        ANALYTICS_STATE,
        PARTITIONS,
        "latest analytics state per camera (compacted)",
        _state_config(),
    ),
    TopicSpec(
        ALERTING_STATE,
        PARTITIONS,
        "latest alert book per camera (compacted)",
        _state_config(),
    ),
    TopicSpec(
        CAMERA_STATUS,
        PARTITIONS,
        "latest status per camera (compacted)",
        {"cleanup.policy": "compact", "retention.ms": str(7 * DAY_MS)},
    ),
    TopicSpec(
        DEAD_LETTERS,
        1,
        "messages no stage could process, with the reason in headers",
        {"retention.ms": str(14 * DAY_MS)},
    ),
)

BY_NAME = {spec.name: spec for spec in TOPICS}

# Not created by `vigie topics`: the stream application creates them with its own settings. A
# deployment that does not let services create topics declares them like the others.
STREAM_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        ALERT_STATE_CHANGELOG,
        BY_NAME[EVENTS].partitions,
        "alerting state table (stream changelog)",
        {"cleanup.policy": "compact"},
    ),
    TopicSpec(
        ALERTING_ASSIGNOR,
        1,
        "alerting leader election (stream application)",
        {"cleanup.policy": "compact"},
    ),
)

# Every topic a Vigie service reads or writes by a fixed name (audience topics are named by the
# alert policy, not here).
EVERY_TOPIC = {spec.name: spec for spec in (*TOPICS, *STREAM_TOPICS)}
