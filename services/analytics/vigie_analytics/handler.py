"""Tracks in, events out: one scene analyser per configured camera.

A camera without a scene is not an error of the message: its tracks are counted and logged once,
so an operator sees a missing zone file instead of a silent gap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from vigie_core.analytics import SceneAnalyzer
from vigie_core.scene import SceneSpec
from vigie_core.types import FrameTracks
from vigie_runtime import codec, metrics
from vigie_runtime.bus import Message, Output
from vigie_runtime.topics import EVENTS

log = logging.getLogger(__name__)


class AnalyticsHandler:
    def __init__(
        self, scenes: Mapping[str, SceneSpec], poll_scenes: Callable[[], object] | None = None
    ) -> None:
        self.analyzers = {camera: SceneAnalyzer(spec) for camera, spec in scenes.items()}
        self.last_time: dict[str, float] = {}
        self._warned: set[str] = set()
        self._poll_scenes = poll_scenes

    def replace_scenes(
        self, previous: Mapping[str, SceneSpec], scenes: Mapping[str, SceneSpec]
    ) -> None:
        """Fresh analysers for the cameras whose scene changed; the others keep their state."""
        for camera in previous.keys() - scenes.keys():
            self.analyzers.pop(camera, None)
        for camera, spec in scenes.items():
            if previous.get(camera) != spec or camera not in self.analyzers:
                self.analyzers[camera] = SceneAnalyzer(spec)
                self._warned.discard(camera)

    def decode(self, message: Message) -> FrameTracks:
        return codec.decode_tracks(message.value)

    def handle(self, tracks: FrameTracks, message: Message) -> Sequence[Output]:
        if self._poll_scenes is not None:
            self._poll_scenes()
        camera = tracks.frame.camera_id
        analyzer = self.analyzers.get(camera)
        if analyzer is None:
            metrics.UNCONFIGURED_CAMERA.labels("analytics", camera).inc()
            if camera not in self._warned:
                self._warned.add(camera)
                log.warning("no scene configured for camera; its tracks are not analysed")
            return []
        last = self.last_time.get(camera)
        if last is not None and tracks.frame.captured_at <= last:
            metrics.STALE_DROPPED.labels("analytics", camera).inc()
            return []
        self.last_time[camera] = tracks.frame.captured_at
        return [
            Output(EVENTS, camera, codec.encode(codec.event_to_proto(event)))
            for event in analyzer.update(tracks)
        ]
