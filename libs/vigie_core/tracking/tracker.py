"""Per-camera multi-object tracking: detections in, identities over time out.

Each object is a constant-velocity Kalman filter over its box, predicted to every frame's capture
time and matched to that frame's detections by IoU (optimal assignment, never across classes).
Everything is a function of the input frames: no clock, no global counter, so replaying a
stream gives the same tracks with the same ids.

Association runs in stages, each an optimal assignment over what the earlier ones left:

1. confident detections (``high_confidence`` and up) against every confirmed track, tracked or
   lost: a confident detection is most likely a real object, so it is offered first. A lost
   track is compared with both boxes widened in proportion to how long it has been unseen
   (``lost_margin_per_s``), as its prediction drifts from the object the longer it coasts;
2. weaker detections (from ``low_confidence``) against the confirmed tracks that matched on the
   previous frame and are still unmatched: a partly occluded person scores low, and only a
   track that was just there vouches for it (with a stricter IoU), so it keeps its id instead
   of going lost, while a weak detection elsewhere is ignored;
3. leftover confident detections against tentative tracks;
4. what is still left, if at least ``birth_confidence``, starts a tentative track.

Lifecycle of a track:

* born *tentative* from a detection nothing else claimed;
* *confirmed* (published as ``NEW``) after ``min_hits`` matched frames; a tentative track that
  misses a frame is dropped silently, which filters one-frame false positives;
* while confirmed it is ``TRACKED`` on frames where it matched and ``LOST`` (box = prediction)
  on frames where it did not, until it has gone unmatched for more than ``lost_buffer_s``;
  then it *ends* and a ``TrackSummary`` is emitted once.

Detection interval. When the detection service runs its model on every k-th frame only, the
frames in between arrive *carried* (``FrameDetections.carried``: not looked at, as opposed to
looked at and empty). A carried frame moves every filter to its time and publishes the
confirmed tracks at their predicted boxes, and that is all: no association, no birth, nothing
counted as a match or a miss (an object the model did not look for was not missed). So a
tentative track waits for the next detected frame to be confirmed or dropped, and "tracked"
versus "lost" in the rounds above means matched or not on the previous *detected* frame; only
the lost buffer, which is time, runs on. Predictions place nobody: paths, speeds and times in
zones are made of observed positions only, so they span carried frames as they span a missed
detection.

The whole state can be taken as a JSON-ready ``snapshot`` and rebuilt with ``restore``: a
restarted service, or the replica a camera's partition moved to, resumes the camera's tracks
under the same ids, and the resumed tracker answers every later frame exactly as the original
would have.

The filters of all tracks live in stacked arrays (``kalman``), and one IoU matrix per frame
serves every round: the cost per frame is a few numpy calls on arrays plus a little Python per
track, not matrix algebra per track.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigie_core.colours import NEVER_COLOURED
from vigie_core.ids import millis
from vigie_core.scene import ZoneSpec
from vigie_core.tracking import kalman
from vigie_core.tracking.association import (
    buffered_iou_matrix,
    gate,
    iou_matrix,
    match,
    same_class_matrix,
)
from vigie_core.tracking.kalman import STATE_DIM
from vigie_core.tracking.path import PathSampler
from vigie_core.tracking.speed import SpeedMeter
from vigie_core.tracking.state import (
    SNAPSHOT_VERSION,
    as_bool,
    as_float,
    as_floats,
    as_int,
    as_list,
    as_mapping,
    as_matrix,
    as_str,
    field,
    invalid,
)
from vigie_core.tracking.zone_time import ZoneClock, ZoneMap
from vigie_core.types import (
    Box,
    Detection,
    FrameDetections,
    FrameTracks,
    Track,
    TrackState,
    TrackSummary,
)

__all__ = ["CameraTracker", "PathSampler", "TrackerParams", "majority_class", "track_id_for"]

Pair = tuple[int, int]  # (track row, detection row)

# Confidences reach the tracker as 32-bit floats (the detections' wire format), so a score of
# 0.9 arrives as 0.89999998. Thresholds are lowered by this much, float32's resolution near 1,
# so that a score equal to a threshold passes it as the setting's reader would expect.
_SCORE_SLACK = 1e-7


@dataclass(frozen=True, slots=True)
class TrackerParams:
    """Tuning of a ``CameraTracker``; each knob trades one failure for another."""

    min_hits: int = 3
    """Matched frames before a track is confirmed and published. Higher suppresses flickering
    false detections but delays (and for very brief objects, loses) real ones."""

    lost_buffer_s: float = 1.5
    """Seconds an unmatched confirmed track is kept (as ``LOST``) before it ends. Longer bridges
    occlusions and missed detections under the same id, but risks handing the id to a different
    object that appears where the prediction went. In seconds so it means the same at any
    frame rate."""

    high_confidence: float = 0.6
    """Detections at least this confident are matched first, against every confirmed track
    (tracked or lost), and only they can revive a lost track. Lower lets doubtful detections
    revive lost tracks and compete with real ones in the first round; higher leaves more real
    ones to the stricter second round, where they can only continue a track. Depends on how
    the detector's scores are calibrated, so the default is set for the detector the services
    run by default (yolov4-tiny at its 0.4 threshold scores a person walking towards the camera
    0.7-0.85 and one in full view 0.9-0.99), not tuned on MOT15, whose Faster R-CNN scores
    would call for 0.9 (``make eval-mot`` shows both). Set it again with another model."""

    low_confidence: float = 0.4
    """Detections below this are ignored. Between this and ``high_confidence`` a detection can
    only continue a track that matched on the previous frame (second round). Lower keeps
    tracks alive through partial occlusion, which scores low, at the risk of a track latching
    onto a nearby false detection and publishing it. The default is the services' detector
    threshold: everything it reports may continue a track. (MOT15's detections start at 0.5,
    so 0.4 and 0.5 behave the same there.)"""

    birth_confidence: float = 0.6
    """Confidence an unclaimed detection needs to start a track (at least
    ``high_confidence``). Higher keeps false positives from becoming tracks; lower catches
    objects that are hard to detect from their first frame. Set for the services' detector,
    as ``high_confidence``."""

    match_iou: float = 0.3
    """Minimum IoU between a predicted box and a confident detection to associate them (first
    round, and tentative tracks). Lower tolerates fast or erratic motion and low frame rates;
    higher avoids id swaps in crowds."""

    second_match_iou: float = 0.5
    """Minimum IoU for a weak detection to continue a track (second round). Stricter than
    ``match_iou``: a weak detection is only believed where the track plainly is."""

    lost_margin_per_s: float = 1.0
    """How much looser the first round's IoU gets for a lost track, per second since its last
    match: both boxes of a pair are widened by this fraction of their width and height on
    every side per second, before IoU (so 1.0 after half a second triples each box's size).
    The prediction of an unseen object drifts from where it really is, more the longer it is
    unseen; widening lets the track find it again under the same id. Higher re-finds objects
    after longer or more erratic gaps but may hand the id to a neighbour. 0 disables it."""

    path_interval_s: float = 0.5
    """Minimum spacing in time between points of a summary's path. Smaller gives finer paths
    for search at the cost of storage."""

    max_path_points: int = 500
    """Upper bound on a summary's path length. When reached, every other point is dropped and
    the spacing doubles, so a long track keeps its whole extent at a coarser resolution."""

    speed_window_s: float = 0.5
    """Shortest time over which a summary's speeds are measured (see ``speed``). Shorter lets
    frame-to-frame jitter of the boxes read as speed; longer averages out real bursts (a
    window of a few seconds turns a sprint across the frame into a jog)."""

    def __post_init__(self) -> None:
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be at least 1, got {self.min_hits}")
        if not self.lost_buffer_s >= 0:
            raise ValueError(f"lost_buffer_s must be >= 0, got {self.lost_buffer_s}")
        for name in (
            "high_confidence",
            "low_confidence",
            "birth_confidence",
            "match_iou",
            "second_match_iou",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if not self.low_confidence <= self.high_confidence <= self.birth_confidence:
            raise ValueError(
                "expected low_confidence <= high_confidence <= birth_confidence, got "
                f"{self.low_confidence}, {self.high_confidence}, {self.birth_confidence}"
            )
        if not self.path_interval_s >= 0:
            raise ValueError(f"path_interval_s must be >= 0, got {self.path_interval_s}")
        if self.max_path_points < 2:
            raise ValueError(f"max_path_points must be at least 2, got {self.max_path_points}")
        if not self.lost_margin_per_s >= 0:
            raise ValueError(f"lost_margin_per_s must be >= 0, got {self.lost_margin_per_s}")
        if not (math.isfinite(self.speed_window_s) and self.speed_window_s > 0):
            raise ValueError(f"speed_window_s must be > 0, got {self.speed_window_s}")


def majority_class(votes: Counter[str]) -> str:
    """The most frequent class (or colour); on a tie, the one seen first (``Counter`` keeps
    insertion order), so the answer never depends on hashing."""
    return votes.most_common(1)[0][0]


def track_id_for(camera_id: str, first_seen: float, detection_index: int) -> str:
    """Namespaced by camera, and a function of the birth detection only (its time and its
    position in the frame's detection tuple): stable across restarts and replays."""
    return f"{camera_id}/{millis(first_seen):x}-{detection_index}"


@dataclass(slots=True)
class _Usable:
    """The detections of one frame the tracker looks at (confidence at least
    ``low_confidence``), as parallel columns. ``index`` is each one's position in the frame's
    tuple, which names the tracks it starts."""

    index: list[int]
    items: list[Detection]
    boxes: np.ndarray  # (m, 4) x1, y1, x2, y2
    confidence: np.ndarray  # (m,)

    @classmethod
    def of(cls, detections: Sequence[Detection], low_confidence: float) -> _Usable:
        floor = low_confidence - _SCORE_SLACK
        items = [d for d in detections if d.confidence >= floor]
        if len(items) == len(detections):
            index = list(range(len(items)))
        else:
            index = [i for i, d in enumerate(detections) if d.confidence >= floor]
        boxes = np.array(
            [(b.x1, b.y1, b.x2, b.y2) for b in [d.box for d in items]], dtype=float
        ).reshape(-1, 4)
        confidence = np.fromiter((d.confidence for d in items), dtype=float, count=len(items))
        return cls(index=index, items=items, boxes=boxes, confidence=confidence)

    def classes(self, rows: Sequence[int] | None) -> list[str]:
        """Class names of the detections at ``rows`` (all of them for None)."""
        items = self.items if rows is None else [self.items[j] for j in rows]
        return [d.class_name for d in items]


class _LiveTrack:
    """Bookkeeping of one track inside a ``CameraTracker`` (its filter lives in the tracker's
    stacked arrays, at the same row as this object in the track list)."""

    __slots__ = (
        "class_name",
        "colour",
        "colour_votes",
        "confidence_sum",
        "confirmed",
        "first_seen",
        "hits",
        "last_confidence",
        "last_seen",
        "path",
        "speed",
        "track_id",
        "votes",
        "zone_time",
    )

    track_id: str
    confirmed: bool
    first_seen: float
    last_seen: float
    hits: int
    votes: Counter[str]
    class_name: str
    colour_votes: Counter[str]
    colour: str
    confidence_sum: float
    last_confidence: float
    path: PathSampler
    speed: SpeedMeter
    zone_time: ZoneClock

    @classmethod
    def born(cls, track_id: str, t: float, params: TrackerParams) -> _LiveTrack:
        """A track with no match yet; ``record`` its birth detection next."""
        track = cls.__new__(cls)
        track.track_id = track_id
        track.confirmed = False
        track.first_seen = track.last_seen = t
        track.hits = 0
        track.votes = Counter()
        track.class_name = ""
        track.colour_votes = Counter()
        track.colour = ""
        track.confidence_sum = track.last_confidence = 0.0
        track.path = PathSampler(params.path_interval_s, params.max_path_points)
        track.speed = SpeedMeter(params.speed_window_s)
        track.zone_time = ZoneClock()
        return track

    def record(self, detection: Detection, t: float, min_hits: int) -> bool:
        """Counts a matched detection (the filter is already corrected; the path point is added
        once the frame's boxes are known); returns True if this match confirmed the track."""
        self.hits += 1
        self.last_seen = t
        name = detection.class_name
        self.votes[name] += 1
        if name != self.class_name:  # a vote for the leader cannot change the majority
            self.class_name = majority_class(self.votes)
        colour = detection.colour
        if colour and name not in NEVER_COLOURED:
            self.colour_votes[colour] += 1
            if colour != self.colour:
                self.colour = majority_class(self.colour_votes)
        self.confidence_sum += detection.confidence
        self.last_confidence = detection.confidence
        newly_confirmed = not self.confirmed and self.hits >= min_hits
        self.confirmed = self.confirmed or newly_confirmed
        return newly_confirmed

    def observe(self, t: float, x: float, y: float, zones: tuple[str, ...]) -> None:
        """Where the ground anchor (bottom-centre of the filtered box) was on a frame the track
        matched, and the zones holding it: the observations its path, speeds and times in zones
        are made of."""
        self.path.add(t, x, y)
        self.speed.add(t, x, y)
        self.zone_time.add(t, zones)

    def summary(self, camera_id: str) -> TrackSummary:
        return TrackSummary(
            track_id=self.track_id,
            camera_id=camera_id,
            class_name=self.class_name,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            hits=self.hits,
            path=self.path.points(),
            mean_confidence=self.confidence_sum / self.hits,
            mean_speed=self.speed.mean(),
            max_speed=self.speed.peak(),
            seconds_in_zone=self.zone_time.seconds(),
            colour="" if self.class_name in NEVER_COLOURED else self.colour,
        )


class CameraTracker:
    """Tracks the objects of one camera, one ``FrameDetections`` at a time, in capture order.

    ``zones`` are the camera's scene zones, for the time each track spends in each (see
    ``zone_time``); like the parameters, they are configuration, not state.
    """

    def __init__(
        self,
        camera_id: str,
        params: TrackerParams = TrackerParams(),
        zones: Sequence[ZoneSpec] = (),
    ) -> None:
        self._camera_id = camera_id
        self._params = params
        self._zones = ZoneMap(zones)
        self._tracks: list[_LiveTrack] = []  # in birth order, which is the output order
        self._last_time: float | None = None
        # Time of the last frame the model looked at (not carried): the frame whose matches make
        # a track *tracked* rather than lost. Equal to ``_last_time`` when no frame is carried.
        self._last_detected: float | None = None
        # Row i is the filter of track i: its estimate and its covariance in block form.
        self._mean = np.zeros((0, STATE_DIM))
        self._blocks = np.zeros((0, 3, kalman.MEASURE_DIM))

    @property
    def camera_id(self) -> str:
        return self._camera_id

    @property
    def params(self) -> TrackerParams:
        return self._params

    @property
    def last_time(self) -> float | None:
        """Capture time of the last frame processed, or None before the first (or after reset)."""
        return self._last_time

    # --- state ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything later frames depend on, as plain JSON values (``json.dumps`` takes it
        as is), for the service to store after each batch so another process can ``restore``
        the camera and carry on with the same ids. Parameters are left out: they belong to the
        service's settings, not to the camera. The result shares nothing with the tracker.

        Keys: ``version``, ``camera_id``, ``last_time`` (null before the first frame) and
        ``tracks``, every live track (tentative ones too) in birth order with ``track_id``,
        ``confirmed``, ``first_seen``, ``last_seen``, ``hits``, ``votes`` ([class, count]
        pairs), ``confidence_sum``, ``last_confidence``, the Kalman ``mean`` (8 numbers) and
        ``covariance`` (8x8), ``path`` (``doublings``, ``kept`` points, ``latest``),
        ``speed`` (``start``, ``distance``, ``duration``, ``peak``, ``recent`` points),
        ``zone_time`` (``last_time``, ``inside`` zone names, ``seconds`` as [zone, seconds]
        pairs) and ``colour_votes`` ([colour, count] pairs, empty for a track whose detections
        named none). ``speed``, ``zone_time`` and ``colour_votes`` came after the first release
        of this layout, so ``restore`` reads snapshots without them (the track measures and
        votes afresh) and the version stays 1: an older release reading a newer snapshot ignores
        the keys and loses only the measurements, where a new version would make it refuse the
        snapshot and lose the camera's track ids.
        Whether a track is tracked or lost (which decides the rounds it takes part in and the
        widening of its gate) is ``last_seen`` equal to the time of the last detected frame, so
        it needs no key of its own. That time is ``last_time`` unless the last frame was carried
        (detection interval); only then is it written, as ``last_detected`` (null if no frame
        was detected yet). So a snapshot of a tracker that never saw a carried frame is the
        same as before carried frames existed, and one without the key means "the last frame was
        detected" to every release. A release that predates the key ignores it and, on the
        next detected frame only, treats the tracks matched before the interval as lost (looser
        first round, no second round): identities survive, so this is no reason to bump the
        version and have that release refuse every camera's snapshot during an upgrade.
        Floats go out at full precision (JSON writes the shortest exact repr), which is what
        makes the resumed tracker identical rather than merely close.
        """
        snapshot: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "camera_id": self._camera_id,
            "last_time": None if self._last_time is None else float(self._last_time),
            "tracks": [self._track_state(row) for row in range(len(self._tracks))],
        }
        if self._last_detected != self._last_time:
            last = self._last_detected
            snapshot["last_detected"] = None if last is None else float(last)
        return snapshot

    def _track_state(self, row: int) -> dict[str, Any]:
        track = self._tracks[row]
        return {
            "track_id": track.track_id,
            "confirmed": track.confirmed,
            "first_seen": float(track.first_seen),
            "last_seen": float(track.last_seen),
            "hits": track.hits,
            # Pairs in insertion order, not an object: the order breaks ties in the class vote.
            "votes": [[name, count] for name, count in track.votes.items()],
            "confidence_sum": float(track.confidence_sum),
            "last_confidence": float(track.last_confidence),
            "mean": self._mean[row].tolist(),
            "covariance": kalman.blocks_to_covariance(self._blocks[row]).tolist(),
            "path": track.path.state(),
            "speed": track.speed.state(),
            "zone_time": track.zone_time.state(),
            # Pairs in insertion order, as the class votes: the order breaks ties.
            "colour_votes": [[name, count] for name, count in track.colour_votes.items()],
        }

    @classmethod
    def restore(
        cls,
        state: Mapping[str, Any],
        params: TrackerParams | None = None,
        zones: Sequence[ZoneSpec] = (),
    ) -> CameraTracker:
        """The tracker a ``snapshot`` was taken of, run with ``params`` (default
        ``TrackerParams()``) and ``zones``: fed the same later frames, it gives the same tracks.

        Raises ``ValueError`` naming the faulty field for anything it cannot replay faithfully
        (missing keys, another version, wrong types, non-finite numbers, a malformed filter
        state): the snapshot comes from a topic and may be
        corrupt or from another release, and the caller's safe answer to that is a fresh
        tracker, not a wrong one.
        """
        params = TrackerParams() if params is None else params
        root = as_mapping(state, "snapshot")
        version = field(root, "version", "snapshot")
        if isinstance(version, bool) or version != SNAPSHOT_VERSION:
            raise invalid(
                "version", f"got {version!r}, this tracker reads version {SNAPSHOT_VERSION}"
            )
        tracker = cls(as_str(field(root, "camera_id", "snapshot"), "camera_id"), params, zones)
        raw_time = field(root, "last_time", "snapshot")
        raw_tracks = as_list(field(root, "tracks", "snapshot"), "tracks")
        if raw_time is None:
            if raw_tracks:
                raise invalid("tracks", "live tracks without a last_time")
            return tracker
        last_time = as_float(raw_time, "last_time")
        tracker._last_time = last_time
        last_detected = _read_last_detected(root, last_time, bool(raw_tracks))
        tracker._last_detected = last_detected
        # A track was last matched on a detected frame, so never after the last one.
        seen_by = last_time if last_detected is None else last_detected
        rows = [
            _read_track(as_mapping(raw, f"tracks[{i}]"), f"tracks[{i}]", seen_by, params)
            for i, raw in enumerate(raw_tracks)
        ]
        if rows:
            tracker._tracks = [row.track for row in rows]
            tracker._mean = np.stack([row.mean for row in rows])
            tracker._blocks = np.stack([row.blocks for row in rows])
        return tracker

    def flush(self, now: float | None = None) -> tuple[TrackSummary, ...]:
        """Ends every live track and returns the summaries of the confirmed ones, in birth
        order: at shutdown, tracks still open would otherwise never be summarised. Tentative
        tracks end silently, as on a miss.

        The clock is kept, or moved to ``now`` (the capture time the stream stopped at, not
        before the last frame), so frames from before the flush are still refused afterwards.
        """
        if now is not None:
            if not math.isfinite(now):
                raise ValueError(f"camera {self._camera_id!r}: flush time {now!r} is not finite")
            if self._last_time is not None and now < self._last_time:
                raise ValueError(
                    f"camera {self._camera_id!r}: flush time {now!r} is before the last "
                    f"frame ({self._last_time!r})"
                )
            self._last_time = now
        summaries = tuple(tr.summary(self._camera_id) for tr in self._tracks if tr.confirmed)
        self._keep(np.zeros(len(self._tracks), dtype=bool))
        # No track is left to be called tracked or lost, so the last detected frame no longer
        # matters; aligned with the clock, the snapshot keeps the layout it has always had.
        self._last_detected = self._last_time
        return summaries

    def reset(self) -> None:
        """Forgets every track and the clock, e.g. after the stream restarted. Open tracks end
        without a summary."""
        self._keep(np.zeros(len(self._tracks), dtype=bool))
        self._last_time = None
        self._last_detected = None

    # --- one frame -----------------------------------------------------------------------------

    def update(self, frame: FrameDetections) -> FrameTracks:
        """Advances every track to this frame's capture time and matches its detections, or,
        for a carried frame, only advances them (see the module docstring).

        Raises ``ValueError`` for a frame of another camera, or one not strictly later than the
        previous frame: the service drops duplicates and reordering before this point, and a
        filter cannot run backwards.
        """
        t = frame.frame.captured_at
        self._check_frame(frame)
        dt = 0.0 if self._last_time is None else t - self._last_time
        self._last_time = t

        self._mean, self._blocks = kalman.predict(self._mean, self._blocks, dt)
        ended = self._end_expired(t)
        if frame.carried:
            return FrameTracks(frame=frame.frame, tracks=self._carry(t), ended=ended)

        previous = self._last_detected
        self._last_detected = t
        usable = _Usable.of(frame.detections, self._params.low_confidence)
        pairs, unclaimed = self._associate(usable, previous, t)
        states = self._apply(pairs, usable, t)
        states += self._start_tracks(usable, unclaimed, t)
        return FrameTracks(frame=frame.frame, tracks=self._finish(states, t), ended=ended)

    def _carry(self, t: float) -> tuple[Track, ...]:
        """The confirmed tracks at their predicted boxes on a frame the model did not look at:
        ``TRACKED`` if matched on the last detected frame, else ``LOST``, as that frame left
        them. Nothing is recorded: no match, no miss, no observation (``_finish`` observes only
        tracks matched at ``t``, and none is)."""
        last = self._last_detected
        states = [
            (TrackState.TRACKED if tr.last_seen == last else TrackState.LOST)
            if tr.confirmed
            else None
            for tr in self._tracks
        ]
        return self._finish(states, t)

    def _check_frame(self, frame: FrameDetections) -> None:
        ref = frame.frame
        if ref.camera_id != self._camera_id:
            raise ValueError(
                f"tracker for camera {self._camera_id!r} got a frame of camera {ref.camera_id!r}"
            )
        if not math.isfinite(ref.captured_at):
            raise ValueError(f"frame {ref.sequence} has a non-finite capture time")
        if self._last_time is not None and ref.captured_at <= self._last_time:
            raise ValueError(
                f"camera {self._camera_id!r}: frame {ref.sequence} captured at "
                f"{ref.captured_at!r} is not after the previous frame ({self._last_time!r}); "
                "time must strictly increase (drop duplicates and reordered frames first)"
            )

    def _keep(self, mask: np.ndarray) -> None:
        """Keeps the tracks (and their filter rows) where ``mask`` is true, in order."""
        self._tracks = [tr for tr, keep in zip(self._tracks, mask.tolist(), strict=True) if keep]
        self._mean = self._mean[mask]
        self._blocks = self._blocks[mask]

    def _end_expired(self, t: float) -> tuple[TrackSummary, ...]:
        """Removes tracks unmatched for longer than the lost buffer, before matching: an object
        back after a longer absence starts a new track rather than reviving the old one. Time,
        not frames, so it runs on carried frames too. (Tentative tracks are dropped on their
        first miss, so only a gap longer than the buffer, between frames or across carried
        ones, makes one stale here; it ends silently.)"""
        buffer_s = self._params.lost_buffer_s
        alive = np.array([t - tr.last_seen <= buffer_s for tr in self._tracks], dtype=bool)
        if alive.all():
            return ()
        ended = tuple(
            tr.summary(self._camera_id)
            for tr, keep in zip(self._tracks, alive.tolist(), strict=True)
            if tr.confirmed and not keep
        )
        self._keep(alive)
        return ended

    # --- association ---------------------------------------------------------------------------

    def _associate(
        self, usable: _Usable, previous: float | None, t: float
    ) -> tuple[list[Pair], list[int]]:
        """The (track row, detection row) pairs of this frame, round by round (see the module
        docstring), and the confident detections left unclaimed. ``previous`` is the time of
        the previous detected frame (carried ones in between do not count: nobody looked for
        the tracks there): a track last seen then is *tracked*, an older one *lost*."""
        params = self._params
        tracks = self._tracks
        confident = usable.confidence >= params.high_confidence - _SCORE_SLACK
        if not tracks or not usable.items:
            return [], np.flatnonzero(confident).tolist()
        high = np.flatnonzero(confident).tolist()
        low = np.flatnonzero(~confident).tolist()
        confirmed = [row for row, tr in enumerate(tracks) if tr.confirmed]
        tentative = [row for row, tr in enumerate(tracks) if not tr.confirmed]
        last_seen = np.fromiter((tr.last_seen for tr in tracks), dtype=float, count=len(tracks))
        lost = last_seen != previous

        # One similarity matrix serves every round: only lost tracks are widened, and they
        # take part in the first round only.
        iou = self._similarity(usable, lost, t - last_seen)
        classes = same_class_matrix([tr.class_name for tr in tracks], usable.classes(None))
        first, left, high = _round(iou, classes, confirmed, high, params.match_iou)
        tracked = [row for row in left if not lost[row]]
        second, _, _ = _round(iou, classes, tracked, low, params.second_match_iou)
        third, _, high = _round(iou, classes, tentative, high, params.match_iou)
        return first + second + third, high

    def _similarity(self, usable: _Usable, lost: np.ndarray, unseen_s: np.ndarray) -> np.ndarray:
        """IoU of every track's prediction with every usable detection, with both boxes of a
        lost track's pairs widened by ``lost_margin_per_s`` per second unseen."""
        predicted = kalman.states_to_boxes(self._mean)
        iou = iou_matrix(predicted, usable.boxes)
        per_s = self._params.lost_margin_per_s
        loose = np.flatnonzero(lost) if per_s > 0 else ()
        if len(loose):
            iou[loose] = buffered_iou_matrix(
                predicted[loose], usable.boxes, per_s * unseen_s[loose]
            )
        return iou

    # --- folding matches in --------------------------------------------------------------------

    def _apply(self, pairs: Sequence[Pair], usable: _Usable, t: float) -> list[TrackState | None]:
        """Corrects the matched filters (one stacked update), records the matches, marks
        unmatched confirmed tracks lost and drops unmatched tentative ones. Returns, for each
        remaining track in order, its state to publish (None for a tentative track)."""
        rows = [row for row, _ in pairs]
        if rows:
            measurements = kalman.boxes_to_measurements(usable.boxes[[col for _, col in pairs]])
            self._mean[rows], self._blocks[rows] = kalman.update(
                self._mean[rows], self._blocks[rows], measurements
            )

        tracks, min_hits = self._tracks, self._params.min_hits
        # Confirmed tracks stay (matched or lost); tentative ones only if matched.
        states: list[TrackState | None] = [
            TrackState.LOST if tr.confirmed else None for tr in tracks
        ]
        keep = [tr.confirmed for tr in tracks]
        items = usable.items
        for row, col in pairs:
            keep[row] = True
            if tracks[row].record(items[col], t, min_hits):
                states[row] = TrackState.NEW
            elif states[row] is not None:
                states[row] = TrackState.TRACKED
        if not all(keep):
            self._keep(np.array(keep, dtype=bool))
            states = [state for state, kept in zip(states, keep, strict=True) if kept]
        return states

    # --- births and output ---------------------------------------------------------------------

    def _start_tracks(
        self, usable: _Usable, columns: Sequence[int], t: float
    ) -> list[TrackState | None]:
        """Starts a tentative track for each unclaimed detection confident enough, named after
        its index in the frame. Returns the state of each new track: NEW if confirmed at birth
        (only when ``min_hits`` is 1), else None."""
        birth = self._params.birth_confidence - _SCORE_SLACK
        columns = [c for c in columns if usable.confidence[c] >= birth]
        if not columns:
            return []
        mean, blocks = kalman.initiate(kalman.boxes_to_measurements(usable.boxes[columns]))
        states: list[TrackState | None] = []
        for col in columns:
            track = _LiveTrack.born(
                track_id_for(self._camera_id, t, usable.index[col]), t, self._params
            )
            confirmed = track.record(usable.items[col], t, self._params.min_hits)
            states.append(TrackState.NEW if confirmed else None)
            self._tracks.append(track)
        self._mean = np.concatenate([self._mean, mean])
        self._blocks = np.concatenate([self._blocks, blocks])
        return states

    def _finish(self, states: Sequence[TrackState | None], t: float) -> tuple[Track, ...]:
        """Adds this frame's path point to every track that matched on it, and returns the
        tracks with a state on this frame (``states`` by row), in birth order. Both use the
        filtered box, not the raw detection: steadier, and the box this frame publishes."""
        boxes = kalman.states_to_boxes(self._mean).tolist()
        velocities = self._mean[:, 4:6].tolist()
        zones = self._zones
        out = []
        for track, state, (x1, y1, x2, y2), (vx, vy) in zip(
            self._tracks, states, boxes, velocities, strict=True
        ):
            if track.last_seen == t:
                anchor = ((x1 + x2) / 2.0, y2)
                track.observe(t, *anchor, zones.containing(anchor) if zones else ())
            if state is not None:
                out.append(
                    Track(
                        track.track_id,
                        track.class_name,
                        Box(x1, y1, x2, y2),
                        track.last_confidence,
                        state,
                        (vx, vy),
                        track.first_seen,
                        track.hits,
                    )
                )
        return tuple(out)


def _round(
    similarity: np.ndarray,
    same_class: np.ndarray | None,
    rows: Sequence[int],
    columns: Sequence[int],
    min_iou: float,
) -> tuple[list[Pair], list[int], list[int]]:
    """One optimal assignment between the tracks at ``rows`` and the detections at ``columns``
    of the frame's similarity matrix; returns the pairs and both leftovers."""
    if not rows or not columns:
        return [], list(rows), list(columns)
    at_rows, at_cols = np.array(rows), np.array(columns)
    at = (at_rows[:, None], at_cols)
    iou = similarity[at]
    matched_rows, matched_cols = match(
        iou, gate(iou, min_iou, None if same_class is None else same_class[at])
    )
    row_left = np.ones(len(rows), dtype=bool)
    row_left[matched_rows] = False
    col_left = np.ones(len(columns), dtype=bool)
    col_left[matched_cols] = False
    pairs = zip(at_rows[matched_rows].tolist(), at_cols[matched_cols].tolist(), strict=True)
    return list(pairs), at_rows[row_left].tolist(), at_cols[col_left].tolist()


# --- reading a snapshot -------------------------------------------------------------------------


@dataclass(slots=True)
class _TrackRow:
    """One track read from a snapshot, with its filter rows."""

    track: _LiveTrack
    mean: np.ndarray
    blocks: np.ndarray


def _read_last_detected(
    root: Mapping[str, Any], last_time: float, has_tracks: bool
) -> float | None:
    """The time of the last detected frame (see ``CameraTracker.snapshot``): absent means the
    last frame was detected, as in every snapshot written before carried frames existed."""
    if "last_detected" not in root:
        return last_time
    raw = root["last_detected"]
    if raw is None:
        if has_tracks:
            raise invalid("last_detected", "live tracks but no detected frame")
        return None
    value = as_float(raw, "last_detected")
    if value > last_time:
        raise invalid("last_detected", f"{value!r} is after last_time {last_time!r}")
    return value


def _read_filter(state: Mapping[str, Any], where: str) -> tuple[np.ndarray, np.ndarray]:
    mean = as_floats(field(state, "mean", where), f"{where}.mean", STATE_DIM)
    cov = as_matrix(field(state, "covariance", where), f"{where}.covariance", STATE_DIM, STATE_DIM)
    try:
        return kalman.check_state(np.array(mean), np.array(cov))
    except ValueError as exc:
        raise invalid(f"{where}.mean/covariance", str(exc)) from exc


def _read_track(
    state: Mapping[str, Any], where: str, seen_by: float, params: TrackerParams
) -> _TrackRow:
    """Rebuilds a track from ``CameraTracker._track_state``'s output, checking every field (see
    ``CameraTracker.restore``). ``seen_by`` is the time of the last detected frame, the
    latest a track can have been matched."""
    track = _LiveTrack.__new__(_LiveTrack)
    track.track_id = as_str(field(state, "track_id", where), f"{where}.track_id")
    track.confirmed = as_bool(field(state, "confirmed", where), f"{where}.confirmed")
    track.first_seen = as_float(field(state, "first_seen", where), f"{where}.first_seen")
    track.last_seen = as_float(field(state, "last_seen", where), f"{where}.last_seen")
    if not track.first_seen <= track.last_seen <= seen_by:
        raise invalid(
            where,
            f"times out of order: first_seen {track.first_seen!r}, last_seen "
            f"{track.last_seen!r}, last detected frame {seen_by!r}",
        )
    track.hits = as_int(field(state, "hits", where), f"{where}.hits", minimum=1)
    track.votes = _read_votes(field(state, "votes", where), f"{where}.votes")
    if track.votes.total() != track.hits:
        raise invalid(f"{where}.votes", f"{track.votes.total()} votes for {track.hits} hits")
    track.class_name = majority_class(track.votes)
    track.confidence_sum = as_float(
        field(state, "confidence_sum", where), f"{where}.confidence_sum"
    )
    track.last_confidence = as_float(
        field(state, "last_confidence", where), f"{where}.last_confidence"
    )
    mean, blocks = _read_filter(state, where)
    track.path = PathSampler.read(
        field(state, "path", where), f"{where}.path", params.path_interval_s, params.max_path_points
    )
    # The summary's measurements came after the first release of the snapshot: a track from an
    # older one has none yet, and measures (and votes on colours) from its next observation on.
    raw_speed = state.get("speed")
    track.speed = (
        SpeedMeter(params.speed_window_s)
        if raw_speed is None
        else SpeedMeter.read(raw_speed, f"{where}.speed", params.speed_window_s)
    )
    raw_colours = state.get("colour_votes")
    track.colour_votes = (
        Counter()
        if raw_colours is None
        else _read_colour_votes(raw_colours, f"{where}.colour_votes")
    )
    if track.colour_votes.total() > track.hits:
        raise invalid(
            f"{where}.colour_votes", f"{track.colour_votes.total()} votes for {track.hits} hits"
        )
    track.colour = majority_class(track.colour_votes) if track.colour_votes else ""
    raw_zone_time = state.get("zone_time")
    track.zone_time = (
        ZoneClock()
        if raw_zone_time is None
        else ZoneClock.read(raw_zone_time, f"{where}.zone_time")
    )
    return _TrackRow(track, mean, blocks)


def _read_votes(value: Any, where: str) -> Counter[str]:
    if not as_list(value, where):
        raise invalid(where, "a track has at least one class vote")
    return _read_counts(value, where, "class")


def _read_colour_votes(value: Any, where: str) -> Counter[str]:
    """Possibly none: most detections of most tracks carry no colour."""
    return _read_counts(value, where, "colour")


def _read_counts(value: Any, where: str, what: str) -> Counter[str]:
    votes: Counter[str] = Counter()
    for i, pair in enumerate(as_list(value, where)):
        entry = as_list(pair, f"{where}[{i}]")
        if len(entry) != 2:
            raise invalid(f"{where}[{i}]", f"expected [{what}, count], got {len(entry)} items")
        name = as_str(entry[0], f"{where}[{i}][0]")
        if name in votes:
            raise invalid(f"{where}[{i}]", f"{what} {name!r} listed twice")
        votes[name] = as_int(entry[1], f"{where}[{i}][1]", minimum=1)
    return votes
