"""How every analytics event is built: a deterministic id and a flat explanation.

The explanation (``Event.details``) always says what was measured against which threshold, so an
operator can judge a signal without opening the code, and an auditor can check why it fired.
"""

from __future__ import annotations

from collections.abc import Iterable

from vigie_core.ids import millis, stable_id
from vigie_core.types import Event, EventKind, FrameRef


def fmt(value: float) -> str:
    return f"{value:.3f}"


def make_event(
    kind: EventKind,
    frame: FrameRef,
    name: str,
    *,
    class_name: str = "",
    track_ids: Iterable[str] = (),
    details: dict[str, str],
) -> Event:
    """An event whose id depends only on what it says, so a replay raises the same one."""
    ids = tuple(track_ids)
    return Event(
        event_id=stable_id(frame.camera_id, kind, name, *ids, millis(frame.captured_at)),
        kind=kind,
        frame=frame,
        zone=name,
        class_name=class_name,
        track_ids=ids,
        details=details,
    )
