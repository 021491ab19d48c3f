"""Tracks in, events out: one scene analyser per configured camera.

A camera without a scene is not an error of the message: its tracks are counted and logged once,
so an operator sees a missing zone file instead of a silent gap.

The handler is the stage's per-camera state (:class:`vigie_runtime.state.CameraState`): zone
stays, dwell and down clocks, line counts, abandoned-object candidates, crowd baselines and
occupancy windows are saved with every batch and read back when the camera's partition is
assigned, so a crash or a rebalance neither repeats an event nor forgets a visit in progress.
A stored state taken under another scene (the file changed meanwhile) is refused, and the
camera starts afresh under its new scene.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from vigie_core.analytics import SceneAnalyzer
from vigie_core.scene import SceneSpec
from vigie_core.types import FrameTracks
from vigie_runtime import codec, metrics
from vigie_runtime.bus import Message, Output
from vigie_runtime.stage import Reject
from vigie_runtime.timebounds import StaleDrops, TimeGuard
from vigie_runtime.topics import EVENTS

log = logging.getLogger(__name__)

# Layout of the stored document around the analyser's own snapshot (which has its version).
STATE_VERSION = 1


class AnalyticsHandler:
    def __init__(
        self,
        scenes: Mapping[str, SceneSpec],
        poll_scenes: Callable[[], object] | None = None,
        guard: TimeGuard | None = None,
        unknown_cameras: Literal["skip", "dead-letter"] = "skip",
    ) -> None:
        self.analyzers = {camera: SceneAnalyzer(spec) for camera, spec in scenes.items()}
        self.last_time: dict[str, float] = {}
        self._warned: set[str] = set()
        self._poll_scenes = poll_scenes
        self.guard = guard or TimeGuard()
        self.stale = StaleDrops("analytics")
        self.unknown_cameras = unknown_cameras

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
        return codec.decode_tracks(message.value, key=message.key)

    # -- per-camera state ------------------------------------------------------------------------

    def save(self, camera: str) -> dict[str, Any] | None:
        analyzer = self.analyzers.get(camera)
        last = self.last_time.get(camera)
        if analyzer is None or last is None:
            return None
        return {"version": STATE_VERSION, "last_time": last, "analyzer": analyzer.snapshot()}

    def load(self, camera: str, document: Mapping[str, Any]) -> None:
        """Resume ``camera``; ``ValueError`` for a state this replica cannot trust."""
        current = self.analyzers.get(camera)
        if current is None:
            raise ValueError(f"no scene is configured for camera {camera!r}")
        if document.get("version") != STATE_VERSION:
            raise ValueError(f"version: got {document.get('version')!r}, reads {STATE_VERSION}")
        last = document.get("last_time")
        if isinstance(last, bool) or not isinstance(last, int | float) or not math.isfinite(last):
            raise ValueError(f"last_time: expected a finite number, got {last!r}")
        self.guard.check_restored(float(last))
        snapshot = document.get("analyzer")
        if not isinstance(snapshot, Mapping):
            raise ValueError("analyzer: expected an object")
        self.analyzers[camera] = SceneAnalyzer.restore(current.scene, snapshot)
        self.last_time[camera] = float(last)

    def _unknown(self, camera: str) -> Sequence[Output]:
        """A camera the scene file does not name, under the ``unknown_cameras`` policy."""
        label = metrics.camera_label("analytics", camera)
        metrics.UNCONFIGURED_CAMERA.labels("analytics", label).inc()
        if self.unknown_cameras == "dead-letter":
            raise Reject(f"camera {camera!r} is not in the scene file (unknown_cameras setting)")
        # Warned about once per camera, for as many cameras as get a label of their own: past
        # that, the overflow counter and its own warning speak for the rest.
        if camera not in self._warned and len(self._warned) < metrics.MAX_CAMERA_LABELS:
            self._warned.add(camera)
            log.warning("no scene configured for camera; its tracks are not analysed")
        return []

    def drop(self, camera: str) -> None:
        """Another replica owns the camera now: keep its scene, forget what was measured."""
        analyzer = self.analyzers.get(camera)
        if analyzer is not None:
            self.analyzers[camera] = SceneAnalyzer(analyzer.scene)
        self.last_time.pop(camera, None)

    def handle(self, tracks: FrameTracks, message: Message) -> Sequence[Output]:
        if self._poll_scenes is not None:
            self._poll_scenes()
        camera = tracks.frame.camera_id
        analyzer = self.analyzers.get(camera)
        if analyzer is None:
            return self._unknown(camera)
        last = self.last_time.get(camera)
        if last is not None and tracks.frame.captured_at <= last:
            self.stale.drop(camera, tracks.frame.captured_at, last)
            return []
        self.last_time[camera] = tracks.frame.captured_at
        return [
            Output(EVENTS, camera, codec.encode(codec.event_to_proto(event)))
            for event in analyzer.update(tracks)
        ]
