"""The canonical in-memory types every stage speaks.

Protobuf messages stop at the runtime's codec; the pure core only ever sees these frozen
dataclasses. Coordinates are normalised to the original frame (0..1, origin top-left) so that
zone files, detections and tracks agree whatever resolution a camera streams at. Times are
seconds since the Unix epoch as floats, taken from the frame's capture time, never from a clock
inside the core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in normalised image coordinates (x1 <= x2, y1 <= y2; a prediction
    clipped at the frame edge may have no area)."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """Where a standing person or a vehicle touches the ground: the anchor for zone rules."""
        return ((self.x1 + self.x2) / 2.0, self.y2)

    def iou(self, other: Box) -> float:
        ix1, iy1 = max(self.x1, other.x1), max(self.y1, other.y1)
        ix2, iy2 = min(self.x2, other.x2), min(self.y2, other.y2)
        inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class FrameRef:
    """Identifies the frame a derived message came from, so any signal can point back at it."""

    camera_id: str
    sequence: int
    captured_at: float
    width: int = 0
    height: int = 0


@dataclass(frozen=True, slots=True)
class Detection:
    box: Box
    class_name: str
    confidence: float
    # A vehicle's colour name (``vigie_core.colours.Colour``) seen in its box; empty when not
    # named, and always empty for people.
    colour: str = ""


@dataclass(frozen=True, slots=True)
class FrameDetections:
    """Everything the detector found on one frame (possibly nothing: an empty frame still counts,
    it is what tells the tracker that time has passed).

    ``carried``: the model did not look at the frame (detection interval), so its empty list
    means "not looked", not "nobody there"; the tracker moves its tracks by prediction.
    """

    frame: FrameRef
    detections: tuple[Detection, ...] = ()
    model: str = ""
    carried: bool = False

    def __post_init__(self) -> None:
        if self.carried and self.detections:
            raise ValueError("a carried frame has no detections: the model did not look at it")


class TrackState(StrEnum):
    NEW = "new"  # confirmed on this frame
    TRACKED = "tracked"  # matched a detection on this frame
    LOST = "lost"  # not matched on this frame, still within the lost buffer


@dataclass(frozen=True, slots=True)
class Track:
    """One confirmed object on one frame. ``track_id`` is namespaced by camera."""

    track_id: str
    class_name: str
    box: Box
    confidence: float
    state: TrackState
    velocity: tuple[float, float] = (0.0, 0.0)  # normalised units per second, box centre
    first_seen: float = 0.0
    hits: int = 0


@dataclass(frozen=True, slots=True)
class TrackSummary:
    """What is kept of a track once it ends: enough for search, nothing that identifies anyone."""

    track_id: str
    camera_id: str
    class_name: str
    first_seen: float
    last_seen: float
    hits: int
    path: tuple[tuple[float, float, float], ...] = ()  # (t, x, y) of bottom-centre, downsampled
    mean_confidence: float = 0.0
    # Speed of the bottom-centre in normalised frame units per second (a fraction of the frame
    # per second, not a physical speed: see vigie_core.tracking.speed), measured over windows of
    # at least half a second so detector jitter does not count; max_speed >= mean_speed.
    mean_speed: float = 0.0
    max_speed: float = 0.0
    # Zone name -> seconds the bottom-centre spent inside that zone of the camera's scene (the
    # zones it was observed in; see vigie_core.tracking.zone_time for how time is counted).
    seconds_in_zone: dict[str, float] = field(default_factory=dict)
    # Majority of the colours named on the track's detections (vigie_core.colours); empty when
    # none was named, as for every non-vehicle, and always for people.
    colour: str = ""


@dataclass(frozen=True, slots=True)
class FrameTracks:
    frame: FrameRef
    tracks: tuple[Track, ...] = ()
    ended: tuple[TrackSummary, ...] = ()


class EventKind(StrEnum):
    """The event catalogue: what analytics may signal (which a camera's policy may narrow)."""

    ZONE_INTRUSION = "zone_intrusion"
    LINE_CROSSING = "line_crossing"
    WRONG_WAY = "wrong_way"
    LOITERING = "loitering"
    ABANDONED_OBJECT = "abandoned_object"
    OBJECT_REMOVED = "object_removed"
    PERSON_DOWN = "person_down"
    CROWD_DENSITY = "crowd_density"
    CROWD_MOVEMENT = "crowd_movement"
    FIRE = "fire"
    SMOKE = "smoke"
    STOPPED_VEHICLE = "stopped_vehicle"
    WEAPON = "weapon"
    EMOTION_SUMMARY = "emotion_summary"
    OCCUPANCY = "occupancy"
    # Technical: a camera that stops is an alert too (raised by capture, not analytics).
    CAMERA_STALLED = "camera_stalled"
    CAMERA_OFFLINE = "camera_offline"


@dataclass(frozen=True, slots=True)
class Event:
    """A signal candidate raised by analytics. ``details`` explains it (measured value, threshold,
    direction, counts) as flat strings so it survives every codec unchanged."""

    event_id: str
    kind: EventKind
    frame: FrameRef
    zone: str
    class_name: str
    track_ids: tuple[str, ...] = ()
    details: dict[str, str] = field(default_factory=dict)

    @property
    def camera_id(self) -> str:
        return self.frame.camera_id

    @property
    def occurred_at(self) -> float:
        return self.frame.captured_at


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    """Where an alert is in its life; the order of statuses and the verdicts that move an alert
    between them are defined once, in ``vigie_core.alerting.lifecycle``."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


@dataclass(frozen=True, slots=True)
class Alert:
    """An event an operator must look at. Repeats of the same kind in the same place within the
    cooldown merge into one alert (``count`` grows, ``last_seen`` moves) instead of a new one."""

    alert_id: str
    camera_id: str
    kind: EventKind
    zone: str
    severity: Severity
    status: AlertStatus
    first_event_id: str
    first_seen: float
    last_seen: float
    count: int = 1
    class_name: str = ""
    track_ids: tuple[str, ...] = ()
    frame: FrameRef | None = None
    reason: str = ""  # human-readable one-liner for the operator queue
    escalation_level: int = 0  # times raised in severity for want of an acknowledgement
    policy_version: str = ""  # the alert policy that granted it, for audits
    retention_days: int = 0  # how long the policy lets it be kept (0: the archive's default)


class VerdictAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    CONFIRM = "confirm"
    DISMISS = "dismiss"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A person's decision on an alert; an event of its own, never inferred by the system."""

    verdict_id: str
    alert_id: str
    action: VerdictAction
    operator: str
    reason: str
    decided_at: float
    role: str = ""  # the operator's role when deciding (operator, supervisor)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One journal entry: who did what, when and why. Ids are deterministic, so a replay of the
    same input journals nothing twice; the archive chains the records by hash on arrival."""

    record_id: str
    at: float
    actor: str
    role: str
    action: str
    subject: str
    reason: str = ""
    request_id: str = ""
    camera_id: str = ""
    details: Mapping[str, str] = field(default_factory=dict)
