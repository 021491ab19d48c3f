"""Hot reload of the scene file: an operator edits a zone and the service picks it up, no restart.

The file is checked at most every ``interval_s`` (a stat call on the consumer's thread, so
there is no race with the analysers). A file that no longer validates is refused as a whole, the
error (with its line) logged and counted, and the scenes in force stay in force: a typo must not
switch a camera's analytics off. Only cameras whose scene changed get a fresh analyser (their
in-flight stays and counts restart); the others keep their state. Every reload is journaled in
the log with what changed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import Counter

from vigie_core.scene import SceneSpec
from vigie_runtime.scenes import load_scenes
from vigie_runtime.yamlconf import ConfigError

log = logging.getLogger(__name__)

SCENE_RELOADS = Counter(
    "vigie_scene_reloads_total", "Scene file reloads, by outcome (applied, refused)", ["outcome"]
)

Scenes = dict[str, SceneSpec]


class SceneWatch:
    def __init__(
        self,
        path: Path,
        apply: Callable[[Scenes, Scenes], None],
        interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path, self._apply, self._interval_s, self._clock = path, apply, interval_s, clock
        self._signature = self._read_signature()
        self.scenes: Scenes = load_scenes(path)
        self._next_check = clock() + interval_s

    def _read_signature(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def poll(self) -> bool:
        """Reload if the file changed since the last look; True when new scenes were applied."""
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + self._interval_s
        signature = self._read_signature()
        if signature is None or signature == self._signature:
            return False
        self._signature = signature
        try:
            scenes = load_scenes(self.path)
        except ConfigError as exc:
            SCENE_RELOADS.labels("refused").inc()
            log.error(
                "scene file changed but is invalid; the previous scenes stay in force: %s", exc
            )
            return False
        previous, self.scenes = self.scenes, scenes
        self._apply(previous, scenes)
        SCENE_RELOADS.labels("applied").inc()
        cameras = scenes.keys() | previous.keys()
        changed = sorted(c for c in cameras if scenes.get(c) != previous.get(c))
        log.warning(
            "scene file reloaded (sha256 %s): cameras changed %s", signature[:12], changed or "none"
        )
        return True
