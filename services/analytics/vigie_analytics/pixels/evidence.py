"""Sightings of fire or smoke that have not (yet) lasted long enough to be signalled.

The persistence rule signals a condition once it holds on ``min_share`` of the frames of the
last ``persist_s``, so the shortest sighting that can ever be signalled lasts
``min_share * persist_s`` (2.4 s with the defaults). A shorter one (a puff of smoke that drifts
away, a clip that ends, a camera that stops) is neither an alert nor nothing: the analyser could
not decide. It must not pass in silence, so each sighting is followed here, from its first frame
to the frame it is signalled (then it is no longer undecided) or lapses (then it is logged as too
short to decide, with how long it lasted against how long it needed). What is under way when a
replay ends is what ``FireAnalyser.undecided`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vigie_core.types import EventKind


@dataclass(frozen=True, slots=True)
class Sighting:
    """A run of frames on which a condition held, by capture time, not (yet) signalled."""

    kind: EventKind
    first_seen: float
    last_seen: float
    frames_on: int
    frames: int
    needed_s: float

    @property
    def seen_s(self) -> float:
        """From the first frame the condition held on to the last."""
        return self.last_seen - self.first_seen

    @property
    def short_by_s(self) -> float:
        """How much longer it would have had to last, at the least, to be signalled."""
        return max(0.0, self.needed_s - self.seen_s)


class SightingWatch:
    """The current sighting of one condition of one camera.

    A sighting runs from the first frame the condition holds on and survives gaps (frames
    without it) of up to ``max_gap_s``: ``(1 - min_share) * persist_s``, the most the persistence
    rule forgives within one window. A longer gap ends it; a sighting that ends before being
    signalled is returned once by ``update``, for the caller to report.
    """

    def __init__(self, kind: EventKind, needed_s: float, max_gap_s: float) -> None:
        self.kind, self.needed_s, self.max_gap_s = kind, needed_s, max_gap_s
        self._current: Sighting | None = None

    @property
    def current(self) -> Sighting | None:
        return self._current

    def update(self, t: float, on: bool, signalled: bool) -> Sighting | None:
        """Add one frame: ``on`` is the frame's verdict, ``signalled`` whether the persistence
        rule has raised (or still holds) the signal. Returns a sighting that just lapsed
        unsignalled, else None."""
        current = self._current
        if signalled:
            self._current = None  # decided: an event was raised
            return None
        if current is None:
            if on:
                self._current = Sighting(self.kind, t, t, 1, 1, self.needed_s)
            return None
        if on:
            self._current = replace(
                current, last_seen=t, frames_on=current.frames_on + 1, frames=current.frames + 1
            )
            return None
        if t - current.last_seen > self.max_gap_s:
            self._current = None
            return current
        self._current = replace(current, frames=current.frames + 1)
        return None
