"""What every archive adapter does alike with what it is given to write.

A single item is written as a batch of one, so that it takes the same path as a batch from the
consumer loop (same checks, same atomicity) and an adapter has one write path to get right. A
batch is checked whole before anything of it is written: an item no archive keeps is a bug
upstream, and keeping half of its batch would hide it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from vigie_core.types import Alert, Event, TrackSummary, Verdict
from vigie_storage.ports import Archivable

# The port's own union, so what is checked here and what the port promises cannot drift apart.
ARCHIVABLE_TYPES: tuple[type, ...] = get_args(Archivable)
_EXPECTED = (
    ", ".join(t.__name__ for t in ARCHIVABLE_TYPES[:-1]) + f" or {ARCHIVABLE_TYPES[-1].__name__}"
)


def checked_batch(items: Iterable[object]) -> list[Archivable]:
    """The items as a list, or ``TypeError`` naming the first one no archive keeps."""
    batch = list(items)
    for item in batch:
        if type(item) not in ARCHIVABLE_TYPES:
            raise TypeError(f"cannot archive a {type(item).__name__}: expected {_EXPECTED}")
    return batch  # type: ignore[return-value]


class SavesOneAsBatch:
    """The port's single-item writes, each a batch of one through ``save_many``."""

    def save_many(self, items: Iterable[Archivable]) -> int:
        raise NotImplementedError

    def save_event(self, event: Event) -> None:
        self.save_many((event,))

    def save_alert(self, alert: Alert) -> None:
        self.save_many((alert,))

    def save_verdict(self, verdict: Verdict) -> None:
        self.save_many((verdict,))

    def save_track_summary(self, summary: TrackSummary) -> None:
        self.save_many((summary,))
