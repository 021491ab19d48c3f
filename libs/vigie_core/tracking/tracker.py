"""Per-camera multi-object tracking: detections in, identities over time out.

A SORT-class tracker: each object is a constant-velocity Kalman filter over its box, predicted
to every frame's capture time and matched to that frame's detections by IoU (optimal
assignment, confirmed tracks before tentative ones, never across classes). Everything is a
function of the input frames: no clock, no global counter, so replaying a stream gives the same
tracks with the same ids.

Lifecycle of a track:

* born *tentative* from a detection nothing else claimed;
* *confirmed* (published as ``NEW``) after ``min_hits`` matched frames; a tentative track that
  misses a frame is dropped silently, which filters one-frame false positives;
* while confirmed it is ``TRACKED`` on frames where it matched and ``LOST`` (box = prediction)
  on frames where it did not, until it has gone unmatched for more than ``lost_buffer_s``;
  then it *ends* and a ``TrackSummary`` is emitted once.

The whole state can be taken as a JSON-ready ``snapshot`` and rebuilt with ``restore``: a
restarted service, or the replica a camera's partition moved to, resumes the camera's tracks
under the same ids, and the resumed tracker answers every later frame exactly as the original
would have.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigie_core.ids import millis
from vigie_core.tracking.association import associate
from vigie_core.tracking.kalman import STATE_DIM, BoxKalmanFilter
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
from vigie_core.types import (
    Detection,
    FrameDetections,
    FrameTracks,
    Track,
    TrackState,
    TrackSummary,
)

# Frame times are floats: a point 0.5 s after the last one may compute as 0.49999999. This slack
# keeps the path sampling on the intended grid without affecting any real interval.
_TIME_SLACK_S = 1e-6

# A path halves at most once per ``max_path_points / 2`` points, so even a track lasting years
# stays far below this; a larger count in a snapshot is corruption (and 2.0**count would
# overflow).
_MAX_PATH_DOUBLINGS = 64

Point = tuple[float, float, float]


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

    match_iou: float = 0.3
    """Minimum IoU between a predicted box and a detection to associate them. Lower tolerates
    fast or erratic motion and low frame rates; higher avoids id swaps in crowds."""

    min_confidence: float = 0.3
    """Detections below this confidence are ignored. Lower keeps weak detections that bridge
    hard frames but lets noise start (tentative) tracks."""

    path_interval_s: float = 0.5
    """Minimum spacing in time between points of a summary's path. Smaller gives finer paths
    for search at the cost of storage."""

    max_path_points: int = 500
    """Upper bound on a summary's path length. When reached, every other point is dropped and
    the spacing doubles, so a long track keeps its whole extent at a coarser resolution."""

    def __post_init__(self) -> None:
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be at least 1, got {self.min_hits}")
        if not self.lost_buffer_s >= 0:
            raise ValueError(f"lost_buffer_s must be >= 0, got {self.lost_buffer_s}")
        if not 0.0 <= self.match_iou <= 1.0:
            raise ValueError(f"match_iou must be within [0, 1], got {self.match_iou}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within [0, 1], got {self.min_confidence}")
        if not self.path_interval_s >= 0:
            raise ValueError(f"path_interval_s must be >= 0, got {self.path_interval_s}")
        if self.max_path_points < 2:
            raise ValueError(f"max_path_points must be at least 2, got {self.max_path_points}")


def majority_class(votes: Counter[str]) -> str:
    """The most frequent class; on a tie, the one seen first (``Counter`` keeps insertion
    order), so the answer never depends on hashing."""
    return votes.most_common(1)[0][0]


class PathSampler:
    """Bounded, time-downsampled record of where a track has been.

    Keeps a point when at least the current interval has passed since the last kept one, and
    always remembers the latest point, so the path starts at the first sighting and ends at the
    last one. When the kept points fill the budget, every other one is dropped and the interval
    doubles: memory stays bounded on tracks that last for hours.
    """

    __slots__ = ("_doublings", "_interval_s", "_kept", "_latest", "_max_points")

    def __init__(self, interval_s: float, max_points: int) -> None:
        self._interval_s = interval_s
        self._max_points = max_points
        self._doublings = 0
        self._kept: list[Point] = []
        self._latest: Point | None = None

    @classmethod
    def resume(
        cls,
        interval_s: float,
        max_points: int,
        doublings: int,
        kept: Sequence[Point],
        latest: Point | None,
    ) -> PathSampler:
        """A sampler continuing from stored state (see ``state``). The interval is rebuilt from
        the configured one and the number of doublings, so it follows the current settings;
        if those now allow fewer points, the path is thinned as ``add`` would have."""
        sampler = cls(interval_s * 2.0**doublings, max_points)
        sampler._doublings = doublings
        sampler._kept = list(kept)
        # No stored latest point means it is the last kept one, and ``points`` relies on that
        # being the same object.
        sampler._latest = latest if latest is not None else (kept[-1] if kept else None)
        while len(sampler._kept) >= max_points:
            sampler._halve()
        return sampler

    def state(self) -> dict[str, Any]:
        """JSON-ready state; ``latest`` is only written when it differs from the last kept
        point, which is what ``points`` distinguishes."""
        latest = self._latest
        if latest is not None and self._kept and self._kept[-1] is latest:
            latest = None
        return {
            "doublings": self._doublings,
            "kept": [[float(v) for v in p] for p in self._kept],
            "latest": None if latest is None else [float(v) for v in latest],
        }

    def add(self, t: float, x: float, y: float) -> None:
        point = (t, x, y)
        self._latest = point
        if self._kept and t - self._kept[-1][0] < self._interval_s - _TIME_SLACK_S:
            return
        self._kept.append(point)
        if len(self._kept) >= self._max_points:  # leave room for the latest point
            self._halve()

    def _halve(self) -> None:
        self._kept = self._kept[::2]
        self._interval_s *= 2.0
        self._doublings += 1

    def points(self) -> tuple[Point, ...]:
        if self._latest is None or (self._kept and self._kept[-1] is self._latest):
            return tuple(self._kept)
        return (*self._kept, self._latest)


def track_id_for(camera_id: str, first_seen: float, detection_index: int) -> str:
    """Namespaced by camera, and a function of the birth detection only (its time and its
    position in the frame's detection tuple): stable across restarts and replays."""
    return f"{camera_id}/{millis(first_seen):x}-{detection_index}"


class _LiveTrack:
    """Mutable bookkeeping of one track inside a ``CameraTracker``. Hashed by identity, so it
    can key the per-frame state table even if two tracks ever shared an id."""

    __slots__ = (
        "confidence_sum",
        "confirmed",
        "filter",
        "first_seen",
        "hits",
        "last_confidence",
        "last_seen",
        "path",
        "track_id",
        "votes",
    )

    def __init__(
        self, track_id: str, detection: Detection, t: float, params: TrackerParams
    ) -> None:
        self.track_id = track_id
        self.filter = BoxKalmanFilter(detection.box)
        self.first_seen = t
        self.last_seen = t
        self.hits = 0
        self.confirmed = False
        self.votes: Counter[str] = Counter()
        self.confidence_sum = 0.0
        self.last_confidence = 0.0
        self.path = PathSampler(params.path_interval_s, params.max_path_points)
        self._record(detection, t, params.min_hits)

    @classmethod
    def resume(
        cls, state: Mapping[str, Any], where: str, last_time: float, params: TrackerParams
    ) -> _LiveTrack:
        """Rebuilds a track from ``to_state``'s output, checking every field (see
        ``CameraTracker.restore``)."""
        track = cls.__new__(cls)
        track.track_id = as_str(field(state, "track_id", where), f"{where}.track_id")
        track.confirmed = as_bool(field(state, "confirmed", where), f"{where}.confirmed")
        track.first_seen = as_float(field(state, "first_seen", where), f"{where}.first_seen")
        track.last_seen = as_float(field(state, "last_seen", where), f"{where}.last_seen")
        if not track.first_seen <= track.last_seen <= last_time:
            raise invalid(
                where,
                f"times out of order: first_seen {track.first_seen!r}, last_seen "
                f"{track.last_seen!r}, tracker last_time {last_time!r}",
            )
        track.hits = as_int(field(state, "hits", where), f"{where}.hits", minimum=1)
        track.votes = _resume_votes(field(state, "votes", where), f"{where}.votes")
        if track.votes.total() != track.hits:
            raise invalid(f"{where}.votes", f"{track.votes.total()} votes for {track.hits} hits")
        track.confidence_sum = as_float(
            field(state, "confidence_sum", where), f"{where}.confidence_sum"
        )
        track.last_confidence = as_float(
            field(state, "last_confidence", where), f"{where}.last_confidence"
        )
        mean = as_floats(field(state, "mean", where), f"{where}.mean", STATE_DIM)
        cov = as_matrix(
            field(state, "covariance", where), f"{where}.covariance", STATE_DIM, STATE_DIM
        )
        try:
            track.filter = BoxKalmanFilter.from_state(np.array(mean), np.array(cov))
        except ValueError as exc:
            raise invalid(f"{where}.mean/covariance", str(exc)) from exc
        track.path = _resume_path(field(state, "path", where), f"{where}.path", params)
        return track

    def to_state(self) -> dict[str, Any]:
        """Everything ``update`` reads, as plain JSON values. Floats go out at full precision
        (JSON writes the shortest exact repr), which is what makes the resumed track identical
        rather than merely close."""
        return {
            "track_id": self.track_id,
            "confirmed": self.confirmed,
            "first_seen": float(self.first_seen),
            "last_seen": float(self.last_seen),
            "hits": self.hits,
            # Pairs in insertion order, not an object: the order breaks ties in the class vote.
            "votes": [[name, count] for name, count in self.votes.items()],
            "confidence_sum": float(self.confidence_sum),
            "last_confidence": float(self.last_confidence),
            "mean": self.filter.state.tolist(),
            "covariance": self.filter.covariance.tolist(),
            "path": self.path.state(),
        }

    @property
    def class_name(self) -> str:
        return majority_class(self.votes)

    def match(self, detection: Detection, t: float, min_hits: int) -> bool:
        """Folds in a matched detection; returns True if this match confirmed the track."""
        self.filter.update(detection.box)
        return self._record(detection, t, min_hits)

    def _record(self, detection: Detection, t: float, min_hits: int) -> bool:
        self.hits += 1
        self.last_seen = t
        self.votes[detection.class_name] += 1
        self.confidence_sum += detection.confidence
        self.last_confidence = detection.confidence
        # The filtered box, not the raw detection: steadier, and the box this frame publishes.
        self.path.add(t, *self.filter.box.bottom_centre)
        newly_confirmed = not self.confirmed and self.hits >= min_hits
        self.confirmed = self.confirmed or newly_confirmed
        return newly_confirmed

    def snapshot(self, state: TrackState) -> Track:
        return Track(
            track_id=self.track_id,
            class_name=self.class_name,
            box=self.filter.box,
            confidence=self.last_confidence,
            state=state,
            velocity=self.filter.velocity,
            first_seen=self.first_seen,
            hits=self.hits,
        )

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
        )


def _resume_votes(value: Any, where: str) -> Counter[str]:
    votes: Counter[str] = Counter()
    pairs = as_list(value, where)
    if not pairs:
        raise invalid(where, "a track has at least one class vote")
    for i, pair in enumerate(pairs):
        entry = as_list(pair, f"{where}[{i}]")
        if len(entry) != 2:
            raise invalid(f"{where}[{i}]", f"expected [class, count], got {len(entry)} items")
        name = as_str(entry[0], f"{where}[{i}][0]")
        if name in votes:
            raise invalid(f"{where}[{i}]", f"class {name!r} listed twice")
        votes[name] = as_int(entry[1], f"{where}[{i}][1]", minimum=1)
    return votes


def _resume_point(value: Any, where: str) -> Point:
    x = as_floats(value, where, 3)
    return (x[0], x[1], x[2])


def _resume_path(value: Any, where: str, params: TrackerParams) -> PathSampler:
    state = as_mapping(value, where)
    doublings = as_int(
        field(state, "doublings", where), f"{where}.doublings", 0, _MAX_PATH_DOUBLINGS
    )
    kept = [
        _resume_point(p, f"{where}.kept[{i}]")
        for i, p in enumerate(as_list(field(state, "kept", where), f"{where}.kept"))
    ]
    raw_latest = field(state, "latest", where)
    latest = None if raw_latest is None else _resume_point(raw_latest, f"{where}.latest")
    if not kept and latest is None:
        raise invalid(where, "a track's path has at least one point")
    return PathSampler.resume(
        params.path_interval_s, params.max_path_points, doublings, kept, latest
    )


class CameraTracker:
    """Tracks the objects of one camera, one ``FrameDetections`` at a time, in capture order."""

    def __init__(self, camera_id: str, params: TrackerParams = TrackerParams()) -> None:
        self._camera_id = camera_id
        self._params = params
        self._tracks: list[_LiveTrack] = []  # in birth order, which is the output order
        self._last_time: float | None = None

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

    def snapshot(self) -> dict[str, Any]:
        """Everything later frames depend on, as plain JSON values (``json.dumps`` takes it
        as is), for the service to store after each batch so another process can ``restore``
        the camera and carry on with the same ids. Parameters are left out: they belong to the
        service's settings, not to the camera. The result shares nothing with the tracker.

        Keys: ``version``, ``camera_id``, ``last_time`` (null before the first frame) and
        ``tracks``, every live track (tentative ones too) in birth order with ``track_id``,
        ``confirmed``, ``first_seen``, ``last_seen``, ``hits``, ``votes`` ([class, count]
        pairs), ``confidence_sum``, ``last_confidence``, the Kalman ``mean`` (8 numbers) and
        ``covariance`` (8x8), and ``path`` (``doublings``, ``kept`` points, ``latest``).
        """
        return {
            "version": SNAPSHOT_VERSION,
            "camera_id": self._camera_id,
            "last_time": None if self._last_time is None else float(self._last_time),
            "tracks": [track.to_state() for track in self._tracks],
        }

    @classmethod
    def restore(
        cls, state: Mapping[str, Any], params: TrackerParams | None = None
    ) -> CameraTracker:
        """The tracker a ``snapshot`` was taken of, run with ``params`` (default
        ``TrackerParams()``): fed the same later frames, it gives the same tracks.

        Raises ``ValueError`` naming the faulty field for anything it cannot replay faithfully
        (missing keys, another version, wrong types, non-finite numbers, a malformed filter
        state): the snapshot comes from a topic and may be corrupt or from another release,
        and the caller's safe answer to that is a fresh tracker, not a wrong one.
        """
        params = TrackerParams() if params is None else params
        root = as_mapping(state, "snapshot")
        version = field(root, "version", "snapshot")
        if isinstance(version, bool) or version != SNAPSHOT_VERSION:
            raise invalid(
                "version", f"got {version!r}, this tracker reads version {SNAPSHOT_VERSION}"
            )
        tracker = cls(as_str(field(root, "camera_id", "snapshot"), "camera_id"), params)
        raw_time = field(root, "last_time", "snapshot")
        raw_tracks = as_list(field(root, "tracks", "snapshot"), "tracks")
        if raw_time is None:
            if raw_tracks:
                raise invalid("tracks", "live tracks without a last_time")
            return tracker
        last_time = as_float(raw_time, "last_time")
        tracker._last_time = last_time
        tracker._tracks = [
            _LiveTrack.resume(as_mapping(raw, f"tracks[{i}]"), f"tracks[{i}]", last_time, params)
            for i, raw in enumerate(raw_tracks)
        ]
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
        self._tracks = []
        return summaries

    def reset(self) -> None:
        """Forgets every track and the clock, e.g. after the stream restarted. Open tracks end
        without a summary."""
        self._tracks = []
        self._last_time = None

    def update(self, frame: FrameDetections) -> FrameTracks:
        """Advances every track to this frame's capture time and matches its detections.

        Raises ``ValueError`` for a frame of another camera, or one not strictly later than the
        previous frame: the service drops duplicates and reordering before this point, and a
        filter cannot run backwards.
        """
        t = frame.frame.captured_at
        self._check_frame(frame)
        dt = 0.0 if self._last_time is None else t - self._last_time
        self._last_time = t

        for track in self._tracks:
            track.filter.predict(dt)
        ended = self._end_expired(t)

        indexed = [
            (index, det)
            for index, det in enumerate(frame.detections)
            if det.confidence >= self._params.min_confidence
        ]
        states, unclaimed = self._match(indexed, t)
        states.update(self._start_tracks(unclaimed, t))

        published = tuple(
            track.snapshot(states[track]) for track in self._tracks if track in states
        )
        return FrameTracks(frame=frame.frame, tracks=published, ended=ended)

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

    def _end_expired(self, t: float) -> tuple[TrackSummary, ...]:
        """Removes tracks unmatched for longer than the lost buffer, before matching: an object
        back after a longer absence starts a new track rather than reviving the old one.
        (Tentative tracks are never stale here: they are dropped on their first miss.)"""
        buffer_s = self._params.lost_buffer_s
        expired = [tr for tr in self._tracks if t - tr.last_seen > buffer_s]
        if not expired:
            return ()
        self._tracks = [tr for tr in self._tracks if t - tr.last_seen <= buffer_s]
        return tuple(tr.summary(self._camera_id) for tr in expired if tr.confirmed)

    def _match(
        self, detections: Sequence[tuple[int, Detection]], t: float
    ) -> tuple[dict[_LiveTrack, TrackState], list[tuple[int, Detection]]]:
        """Matches live tracks to detections, folds the matches in and drops tentative tracks
        that missed. Returns the state to publish for each confirmed track, and the detections
        left over for new tracks.

        Confirmed tracks choose first and tentative ones share what is left: when a confirmed
        track drifts off its object for one frame, the detection it missed starts a tentative
        duplicate, and without this priority the duplicate would keep winning the object and
        the id would fragment.
        """
        min_hits = self._params.min_hits
        confirmed = [tr for tr in self._tracks if tr.confirmed]
        tentative = [tr for tr in self._tracks if not tr.confirmed]
        confirmed_pairs, detections = self._pair(confirmed, detections)
        tentative_pairs, detections = self._pair(tentative, detections)

        states: dict[_LiveTrack, TrackState] = {}
        for track, detection in confirmed_pairs:
            track.match(detection, t, min_hits)
            states[track] = TrackState.TRACKED
        for track in confirmed:
            states.setdefault(track, TrackState.LOST)
        for track, detection in tentative_pairs:
            if track.match(detection, t, min_hits):
                states[track] = TrackState.NEW

        survivors = {track for track, _ in tentative_pairs}
        self._tracks = [tr for tr in self._tracks if tr.confirmed or tr in survivors]
        return states, list(detections)

    def _pair(
        self, tracks: Sequence[_LiveTrack], detections: Sequence[tuple[int, Detection]]
    ) -> tuple[list[tuple[_LiveTrack, Detection]], list[tuple[int, Detection]]]:
        """One association round: the matched (track, detection) pairs and the detections left."""
        result = associate(
            [tr.filter.box for tr in tracks],
            [tr.class_name for tr in tracks],
            [det.box for _, det in detections],
            [det.class_name for _, det in detections],
            self._params.match_iou,
        )
        pairs = [(tracks[i], detections[j][1]) for i, j in result.matches]
        return pairs, [detections[j] for j in result.unmatched_detections]

    def _start_tracks(
        self, detections: Sequence[tuple[int, Detection]], t: float
    ) -> dict[_LiveTrack, TrackState]:
        """Starts a tentative track for each unclaimed detection, named after its index in the
        frame. Returns those confirmed at birth (only when ``min_hits`` is 1)."""
        states: dict[_LiveTrack, TrackState] = {}
        for index, detection in detections:
            track_id = track_id_for(self._camera_id, t, index)
            track = _LiveTrack(track_id, detection, t, self._params)
            self._tracks.append(track)
            if track.confirmed:
                states[track] = TrackState.NEW
        return states
