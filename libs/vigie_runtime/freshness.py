"""Freshness under overload: the per-camera age limit of live frames, shared by every stage that
reads ``vigie.frames.v1`` (detection, the pixel analysers of analytics)."""

from __future__ import annotations

import logging

from prometheus_client import Counter
from pydantic import Field

from vigie.v1 import frames_pb2
from vigie_runtime import codec
from vigie_runtime.settings import StrictModel

log = logging.getLogger(__name__)

FRAMES_SKIPPED = Counter(
    "vigie_frames_skipped_total",
    "Frames not analysed, by reason (stale: a live frame older than its camera's limit)",
    ["stage", "camera", "reason"],
)


class CameraFreshness(StrictModel):
    max_age_s: float = Field(gt=0)


class FreshnessSettings(StrictModel):
    """Under overload, a live frame older than this is skipped rather than analysed late.

    Analysing a frame that is already seconds old only makes the backlog longer; skipping it
    lets the stage catch up with what the camera shows now. Replays are never skipped.
    """

    max_age_s: float = Field(2.0, gt=0)
    cameras: dict[str, CameraFreshness] = Field(default_factory=dict)

    def limit_for(self, camera_id: str) -> float:
        own = self.cameras.get(camera_id)
        return own.max_age_s if own is not None else self.max_age_s


def age_of(frame: frames_pb2.Frame, now: float) -> float | None:
    """How old a live frame is at ``now``; None for a replay, whose age means nothing."""
    if frame.replay:
        return None
    return now - codec.time_from_proto(frame.captured_at)


def is_stale(frame: frames_pb2.Frame, freshness: FreshnessSettings, stage: str, now: float) -> bool:
    """True, counted and logged, for a live frame older than its camera's limit."""
    return is_stale_at(frame, age_of(frame, now), freshness, stage)


def is_stale_at(
    frame: frames_pb2.Frame, age: float | None, freshness: FreshnessSettings, stage: str
) -> bool:
    """:func:`is_stale` for a caller that already has the frame's :func:`age_of`, so one frame
    is judged at one instant whatever else it is judged for."""
    if age is None:
        return False
    limit = freshness.limit_for(frame.camera_id)
    if age <= limit:
        return False
    FRAMES_SKIPPED.labels(stage, frame.camera_id, "stale").inc()
    log.debug(
        "stale frame skipped",
        extra={
            "camera": frame.camera_id,
            "sequence": frame.sequence,
            "age_s": round(age, 3),
            "max_age_s": limit,
        },
    )
    return True
