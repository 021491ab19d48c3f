"""Aggregate expression figures per zone and time window, and nothing else.

Emotion recognition is high-risk (EU AI Act), so what leaves this module is only a distribution
per zone and window, and only when at least ``min_faces`` faces went into it: below that floor an
"aggregate" could describe one person. Per-face probabilities are added to the window's sums and
dropped on the spot; no face, box or track is ever kept or reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vigie_core.analytics.explain import fmt, make_event
from vigie_core.types import Event, EventKind, FrameRef

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
WHOLE_FRAME = ""


@dataclass(frozen=True, slots=True)
class WindowSpec:
    window_s: float = 60.0
    min_faces: int = 5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.window_s) and self.window_s > 0):
            raise ValueError(f"emotion window_s must be > 0, got {self.window_s}")
        if isinstance(self.min_faces, bool) or not isinstance(self.min_faces, int):
            raise ValueError(f"emotion min_faces must be a whole number, got {self.min_faces}")
        if self.min_faces < 2:
            raise ValueError("emotion min_faces must be >= 2: one face is one person")


@dataclass(slots=True)
class _Sums:
    faces: int = 0
    totals: list[float] = field(default_factory=lambda: [0.0] * len(EMOTIONS))


class EmotionWindows:
    """The running window of one camera; windows are aligned on multiples of ``window_s``."""

    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self._window: int | None = None
        self._sums: dict[str, _Sums] = {}

    def add(self, frame: FrameRef, faces: Iterable[tuple[str, Sequence[float]]]) -> list[Event]:
        """Add one frame's faces as (zone, probabilities); returns the summaries of a window
        that this frame closes."""
        window = math.floor(frame.captured_at / self.spec.window_s)
        events: list[Event] = []
        if self._window is not None and window > self._window:
            events = self._close(frame)
        if self._window is None or window > self._window:
            self._window, self._sums = window, {}
        for zone, probabilities in faces:
            if len(probabilities) != len(EMOTIONS):
                raise ValueError(
                    f"expected {len(EMOTIONS)} probabilities, got {len(probabilities)}"
                )
            sums = self._sums.setdefault(zone, _Sums())
            sums.faces += 1
            for i, p in enumerate(probabilities):
                sums.totals[i] += float(p)
        return events

    def _close(self, frame: FrameRef) -> list[Event]:
        assert self._window is not None
        start = self._window * self.spec.window_s
        events = []
        for zone, sums in sorted(self._sums.items()):
            if sums.faces < self.spec.min_faces:
                continue  # too few faces to be an aggregate of several people
            details = {
                "faces": str(sums.faces),
                "min_faces": str(self.spec.min_faces),
                "window_start": fmt(start),
                "window_s": fmt(self.spec.window_s),
            }
            for name, total in zip(EMOTIONS, sums.totals, strict=True):
                details[name] = fmt(total / sums.faces)
            events.append(make_event(EventKind.EMOTION_SUMMARY, frame, zone, details=details))
        return events
