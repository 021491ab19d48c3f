"""The detection interval: which frames of a camera the model looks at.

Detecting every k-th frame divides the model's cost (the pipeline's largest by far) by k; the
tracker carries its tracks over the frames in between by prediction (``carried`` detections,
see ``vigie_core.types.FrameDetections``). A camera looking at slow scenes (a car park, a
corridor) loses little at k = 2 or 3 (``make eval-mot`` prints the cost in MOTA/IDF1 at each k).

Each camera has its configured k (``interval.frames``, or its own in ``interval.cameras``).
Under load, when the live frames reaching the model are getting old, the camera's k is raised
one step at a time up to ``interval.max_frames``, and lowered back one step at a time once the
frames are fresh again: the freshness policy's gentler first answer, before frames become stale
and are skipped altogether (``freshness``). Replays are judged at the configured k only: their
age says nothing about load, and a replay must give the same detections on every run.

A frame is looked at when at least k frames (by sequence) have passed since the camera's last
looked-at frame, not when its sequence is a multiple of k: capture may drop frames, and a
camera whose dropped frames fell on the multiples would never be looked at. A new capture
session (sequence going back) is looked at at once.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass

from prometheus_client import Gauge
from pydantic import Field, model_validator

from vigie_runtime.settings import StrictModel

log = logging.getLogger(__name__)

INTERVAL_FRAMES = Gauge(
    "vigie_detection_interval_frames",
    "The model looks at one frame in this many, per camera (raised under load)",
    ["stage", "camera"],
)

INTERVAL_RAISED = Gauge(
    "vigie_detection_interval_raised_frames",
    "How far load has raised a camera's detection interval above its configured one (0: not)",
    ["stage", "camera"],
)

# Cameras remembered at most: a flood of frames under made-up camera ids cannot grow memory;
# a camera forgotten here is looked at on its next frame and starts again at its configured k.
MAX_CAMERAS = 4096


class CameraInterval(StrictModel):
    frames: int = Field(ge=1, le=30)


class IntervalSettings(StrictModel):
    """The model looks at one frame in ``frames`` of each camera; see the module docstring."""

    frames: int = Field(1, ge=1, le=30)
    cameras: dict[str, CameraInterval] = Field(default_factory=dict)
    # How far load may raise a camera's interval; the configured k when lower. 1: never.
    max_frames: int = Field(3, ge=1, le=30)
    # A live frame older than this share of its camera's freshness limit when it reaches the
    # model raises the camera's k; younger than ``lower_at`` for ``hold_s``, k comes down.
    raise_at: float = Field(0.5, gt=0, le=1)
    lower_at: float = Field(0.1, gt=0, le=1)
    # The least time between two changes of one camera's k: the effect of a change on the
    # frames' age shows only once the frames queued before it have gone through.
    hold_s: float = Field(2.0, ge=0, le=600)

    @model_validator(mode="after")
    def _lower_below_raise(self) -> IntervalSettings:
        if self.lower_at >= self.raise_at:
            raise ValueError(f"lower_at ({self.lower_at}) must be below raise_at ({self.raise_at})")
        return self

    def configured(self, camera_id: str) -> int:
        own = self.cameras.get(camera_id)
        return own.frames if own is not None else self.frames


@dataclass(slots=True)
class _Camera:
    frames: int  # the camera's k now
    last_looked: int | None = None  # sequence of the last frame the model looked at
    changed_at: float = float("-inf")  # when k last changed
    fresh_since: float | None = None  # live frames fresh without a break since then


class DetectionInterval:
    """Per camera: look at this frame or carry it; raises and lowers k with the frames' age."""

    def __init__(self, settings: IntervalSettings, stage: str = "detection") -> None:
        self.settings = settings
        self.stage = stage
        self._cameras: OrderedDict[str, _Camera] = OrderedDict()

    def frames(self, camera_id: str) -> int:
        """The camera's k now (its configured one before its first frame)."""
        camera = self._cameras.get(camera_id)
        return camera.frames if camera is not None else self.settings.configured(camera_id)

    def look(
        self,
        camera_id: str,
        sequence: int,
        *,
        now: float,
        age_s: float | None = None,
        limit_s: float | None = None,
    ) -> bool:
        """Whether the model looks at this frame. ``age_s`` and ``limit_s`` (the camera's
        freshness limit) are given for live frames only: they move the camera's k."""
        camera = self._camera(camera_id)
        if age_s is not None and limit_s is not None:
            self._adapt(camera_id, camera, age_s, limit_s, now)
        if (
            camera.last_looked is None
            or sequence < camera.last_looked  # a new capture session
            or sequence - camera.last_looked >= camera.frames
        ):
            camera.last_looked = sequence
            return True
        return False

    def _camera(self, camera_id: str) -> _Camera:
        camera = self._cameras.get(camera_id)
        if camera is None:
            camera = _Camera(self.settings.configured(camera_id))
            self._cameras[camera_id] = camera
            if len(self._cameras) > MAX_CAMERAS:
                forgotten, _ = self._cameras.popitem(last=False)
                for gauge in (INTERVAL_FRAMES, INTERVAL_RAISED):
                    with contextlib.suppress(KeyError):  # another instance's, same process
                        gauge.remove(self.stage, forgotten)
            INTERVAL_FRAMES.labels(self.stage, camera_id).set(camera.frames)
            INTERVAL_RAISED.labels(self.stage, camera_id).set(0)
        else:
            self._cameras.move_to_end(camera_id)
        return camera

    def _adapt(
        self, camera_id: str, camera: _Camera, age_s: float, limit_s: float, now: float
    ) -> None:
        s = self.settings
        configured = s.configured(camera_id)
        ceiling = max(configured, s.max_frames)
        fresh = age_s < s.lower_at * limit_s
        if not fresh:
            camera.fresh_since = None
        elif camera.fresh_since is None:
            camera.fresh_since = now
        if now - camera.changed_at < s.hold_s:
            return
        if age_s > s.raise_at * limit_s and camera.frames < ceiling:
            self._change(camera_id, camera, camera.frames + 1, now, age_s, "frames getting old")
        elif (
            camera.frames > configured
            and camera.fresh_since is not None
            and now - camera.fresh_since >= s.hold_s
        ):
            self._change(camera_id, camera, camera.frames - 1, now, age_s, "frames fresh again")

    def _change(
        self, camera_id: str, camera: _Camera, frames: int, now: float, age_s: float, why: str
    ) -> None:
        log.info(
            "detection interval changed",
            extra={
                "camera": camera_id,
                "from_frames": camera.frames,
                "to_frames": frames,
                "age_s": round(age_s, 3),
                "why": why,
            },
        )
        camera.frames = frames
        camera.changed_at = now
        camera.fresh_since = None
        INTERVAL_FRAMES.labels(self.stage, camera_id).set(frames)
        raised = frames - self.settings.configured(camera_id)
        INTERVAL_RAISED.labels(self.stage, camera_id).set(raised)
