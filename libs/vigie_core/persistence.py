"""When a per-frame condition has held long enough to be signalled: the persistence rule of the
frame-based detectors (fire, smoke).

A flame detector is right on most frames, not all of them: a frame of motion blur or a gust of
smoke hides it for a moment; and a passer-by in an orange coat can satisfy it for a second. So
the condition must hold on at least ``min_share`` of the frames of the last ``persist_s`` seconds
(by frame time) before it is signalled, once; the rule re-arms when the condition has been off
for ``clear_s``. Gaps between frames (the camera dropped some) simply leave fewer samples.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PersistenceSpec:
    persist_s: float = 3.0
    min_share: float = 0.8
    clear_s: float = 10.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.persist_s) and self.persist_s > 0):
            raise ValueError(f"persist_s must be > 0, got {self.persist_s}")
        if not 0.0 < self.min_share <= 1.0:
            raise ValueError(f"min_share must be in (0, 1], got {self.min_share}")
        if not (math.isfinite(self.clear_s) and self.clear_s >= 0):
            raise ValueError(f"clear_s must be >= 0, got {self.clear_s}")


@dataclass(frozen=True, slots=True)
class Persisted:
    """What the rule measured when it fired: the share of frames and the span they cover."""

    share: float
    duration_s: float


class Persistence:
    def __init__(self, spec: PersistenceSpec) -> None:
        self.spec = spec
        self._samples: deque[tuple[float, bool]] = deque()
        self._raised = False
        self._off_since: float | None = None

    @property
    def raised(self) -> bool:
        return self._raised

    def update(self, t: float, on: bool) -> Persisted | None:
        """Add this frame's verdict; returns the measure on the frame the signal is due."""
        spec = self.spec
        self._samples.append((t, on))
        while self._samples and t - self._samples[0][0] > spec.persist_s:
            self._samples.popleft()
        if self._raised:
            if on:
                self._off_since = None
            elif self._off_since is None:
                self._off_since = t
            if self._off_since is not None and t - self._off_since >= spec.clear_s:
                self._raised, self._off_since = False, None
                self._samples.clear()
            return None
        span = t - self._samples[0][0]
        if span + 1e-6 < spec.persist_s * 0.95 or not on:
            return None
        share = sum(1 for _, s in self._samples if s) / len(self._samples)
        if share < spec.min_share:
            return None
        self._raised = True
        return Persisted(share, span)
