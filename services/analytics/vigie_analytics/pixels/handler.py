"""Frames in, events out: the pixel analysers a camera's policy enables, run on its frames.

Separate from the tracks stage (its own consumer group on ``vigie.frames.v1``) so that a camera
without pixel analysers costs nothing, and so that a slow analyser lags on its own without
holding back zone rules. Live frames older than the camera's freshness limit are skipped and
counted, as in detection; replays are never skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from vigie.v1 import frames_pb2
from vigie_analytics.pixels.base import CameraImage, PixelAnalyser, PixelAnalyserFactory
from vigie_core.scene import SceneSpec
from vigie_runtime import codec
from vigie_runtime.bus import Message, Output
from vigie_runtime.freshness import FreshnessSettings, is_stale
from vigie_runtime.images import decode_jpeg
from vigie_runtime.timebounds import StaleDrops
from vigie_runtime.topics import EVENTS

log = logging.getLogger(__name__)

STAGE = "analytics-pixels"


@dataclass(frozen=True, slots=True)
class PixelPolicy:
    """One kind of pixel analyser and the cameras whose policy enables it."""

    name: str
    cameras: frozenset[str]
    factory: PixelAnalyserFactory


class PixelHandler:
    def __init__(
        self,
        policies: Sequence[PixelPolicy],
        scene_of: Callable[[str], SceneSpec | None],
        freshness: FreshnessSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policies = tuple(policies)
        self._scene_of = scene_of
        self._freshness = freshness
        self._clock = clock
        self._analysers: dict[tuple[str, str], PixelAnalyser] = {}
        self._last_time: dict[str, float] = {}
        self._stale = StaleDrops(STAGE)

    @property
    def cameras(self) -> frozenset[str]:
        """Every camera at least one analyser is enabled for."""
        return frozenset().union(*(p.cameras for p in self.policies))

    def decode(self, message: Message) -> frames_pb2.Frame:
        return codec.decode_frame(message.value, key=message.key)

    def analysers_for(self, camera: str) -> Mapping[str, PixelAnalyser]:
        found = {}
        for policy in self.policies:
            if camera not in policy.cameras:
                continue
            key = (policy.name, camera)
            if key not in self._analysers:
                self._analysers[key] = policy.factory(camera, self._scene_of(camera))
            found[policy.name] = self._analysers[key]
        return found

    def handle(self, frame: frames_pb2.Frame, message: Message) -> Sequence[Output]:
        camera = frame.camera_id
        analysers = self.analysers_for(camera)
        if not analysers or is_stale(frame, self._freshness, STAGE, self._clock()):
            return []
        ref = codec.frame_ref_of(frame)
        last = self._last_time.get(camera)
        if last is not None and ref.captured_at <= last:
            self._stale.drop(camera, ref.captured_at, last)
            return []
        self._last_time[camera] = ref.captured_at
        image = CameraImage(ref, decode_jpeg(frame.jpeg))
        outputs = []
        for analyser in analysers.values():
            for event in analyser.analyse(image):
                outputs.append(Output(EVENTS, camera, codec.encode(codec.event_to_proto(event))))
        return outputs
