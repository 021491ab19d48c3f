"""Abandoned objects, and the removal of objects that stood still.

An object (a bag, a suitcase; a bottle on a shelf in a shop) is *static* once its anchor has
stayed within ``still_radius`` for ``static_s``. It is *abandoned* when it is static and no
person has been within ``owner_radius`` of it for ``unattended_s``: the person who brought it has
left its neighbourhood. A static object that goes unobserved for ``removal_grace_s`` was
*removed*: a separate event, since a missing object on a shelf or a bag picked up by someone else
matters too. Only objects that were static are reported removed; objects passing through
(carried bags) never are.

A detector misses a standing object now and then, and a passing hand or person hides it; its
track then ends and a new one starts at the same place. So a static object that is no longer
seen is kept as missing for ``removal_grace_s``, and a watched object found again at its
place (within twice ``still_radius``) in that time *is* it: the new track takes over its history
instead of counting as a removal plus a new object.

The watched objects are saved in order as plain JSON values (``snapshot``) and read back
(``restore``): the order decides which missing object a new track takes over, and the order of
removals raised on one frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigie_core.analytics.explain import fmt, make_event
from vigie_core.analytics.motion import Stillness
from vigie_core.analytics.visit import reached
from vigie_core.rules import AbandonedSpec
from vigie_core.snapshots import (
    as_bool,
    as_float,
    as_floats,
    as_list,
    as_mapping,
    as_str,
    as_text,
    invalid,
    optional,
)
from vigie_core.snapshots import field as read_field
from vigie_core.types import Box, Event, EventKind, FrameRef, Track


def box_gap(a: Box, b: Box) -> float:
    """Distance between two boxes (0 when they touch or overlap)."""
    dx = max(0.0, max(a.x1, b.x1) - min(a.x2, b.x2))
    dy = max(0.0, max(a.y1, b.y1) - min(a.y2, b.y2))
    return math.hypot(dx, dy)


def _box_text(box: Box) -> str:
    return ",".join(fmt(v) for v in (box.x1, box.y1, box.x2, box.y2))


@dataclass(slots=True)
class _Watched:
    class_name: str
    box: Box
    last_observed: float
    still: Stillness = field(default_factory=Stillness)
    static_since: float | None = None  # when it first stood still for static_s; kept after
    attended_at: float | None = None
    abandoned: bool = False

    def snapshot(self, track_id: str) -> dict[str, Any]:
        def opt(value: float | None) -> float | None:
            return None if value is None else float(value)

        box = self.box
        return {
            "track_id": track_id,
            "class_name": self.class_name,
            "box": [float(box.x1), float(box.y1), float(box.x2), float(box.y2)],
            "last_observed": float(self.last_observed),
            "still": self.still.snapshot(),
            "static_since": opt(self.static_since),
            "attended_at": opt(self.attended_at),
            "abandoned": self.abandoned,
        }

    @classmethod
    def restore(cls, value: Any, where: str) -> tuple[str, _Watched]:
        obj = as_mapping(value, where)

        def read(name: str) -> Any:
            return read_field(obj, name, where)

        track_id = as_str(read("track_id"), f"{where}.track_id")
        watched = cls(
            class_name=as_text(read("class_name"), f"{where}.class_name"),
            box=Box(*as_floats(read("box"), f"{where}.box", 4)),
            last_observed=as_float(read("last_observed"), f"{where}.last_observed"),
            still=Stillness.restore(read("still"), f"{where}.still"),
            static_since=optional(read("static_since"), f"{where}.static_since", as_float),
            attended_at=optional(read("attended_at"), f"{where}.attended_at", as_float),
            abandoned=as_bool(read("abandoned"), f"{where}.abandoned"),
        )
        if watched.abandoned and watched.static_since is None:
            raise invalid(where, "abandoned without having been static")
        return track_id, watched


class AbandonedWatch:
    """The still objects of one zone."""

    def __init__(self, zone: str, spec: AbandonedSpec) -> None:
        self.zone, self.spec = zone, spec
        self._objects: dict[str, _Watched] = {}

    def watched(self) -> int:
        return len(self._objects)

    def snapshot(self) -> dict[str, Any]:
        """Every watched object, in the order they are looked at."""
        return {"objects": [w.snapshot(track_id) for track_id, w in self._objects.items()]}

    @classmethod
    def restore(cls, zone: str, spec: AbandonedSpec, value: Any, where: str) -> AbandonedWatch:
        obj = as_mapping(value, where)
        watch = cls(zone, spec)
        raw_objects = as_list(read_field(obj, "objects", where), f"{where}.objects")
        for i, raw in enumerate(raw_objects):
            at = f"{where}.objects[{i}]"
            track_id, watched = _Watched.restore(raw, at)
            if track_id in watch._objects:
                raise invalid(f"{at}.track_id", f"track {track_id!r} listed twice")
            watch._objects[track_id] = watched
        return watch

    def update(
        self,
        frame: FrameRef,
        objects: Sequence[Track],
        people: Sequence[Box],
        ended: Iterable[str],
    ) -> list[Event]:
        """``objects``: observed tracks of the watched classes anchored in the zone on this frame;
        ``people``: every person box observed on it; ``ended``: tracks that ended on it."""
        now, spec = frame.captured_at, self.spec
        events: list[Event] = []
        for track in objects:
            watched = self._objects.get(track.track_id) or self._refound(track, now)
            if watched is None:
                watched = _Watched(track.class_name, track.box, now, attended_at=now)
            self._objects[track.track_id] = watched
            watched.box, watched.last_observed = track.box, now
            # Attendance is followed from the first frame: an owner who stood by the bag while
            # it became static attended it all that time.
            nearest = min((box_gap(track.box, p) for p in people), default=math.inf)
            if nearest <= spec.owner_radius or watched.attended_at is None:
                watched.attended_at = now
            still_s = watched.still.update(now, track.box.bottom_centre, spec.still_radius)
            if not reached(still_s, spec.static_s):
                # Not still now; but an object that once stood here and is then picked up
                # (moves, and its track ends) is exactly a removal: ``static_since`` stays.
                continue
            if watched.static_since is None:
                watched.static_since = watched.still.since
            unattended_s = now - watched.attended_at
            if watched.abandoned or not reached(unattended_s, spec.unattended_s):
                continue
            watched.abandoned = True
            events.append(
                make_event(
                    EventKind.ABANDONED_OBJECT,
                    frame,
                    self.zone,
                    class_name=track.class_name,
                    track_ids=(track.track_id,),
                    details={
                        "static_s": fmt(still_s),
                        "min_static_s": fmt(spec.static_s),
                        "unattended_s": fmt(unattended_s),
                        "min_unattended_s": fmt(spec.unattended_s),
                        "nearest_person": "none" if math.isinf(nearest) else fmt(nearest),
                        "owner_radius": fmt(spec.owner_radius),
                        "box": _box_text(track.box),
                    },
                )
            )
        events.extend(self._removed(frame, set(ended)))
        return events

    def _refound(self, track: Track, now: float) -> _Watched | None:
        """A missing static object at this track's place, taken over. Any watched class will do:
        detectors hesitate between close classes (a bottle read as a vase on some frames)."""
        anchor = track.box.bottom_centre
        reach = 2 * self.spec.still_radius
        for old_id, watched in list(self._objects.items()):
            if (
                watched.static_since is not None
                and watched.last_observed < now
                and math.dist(watched.box.bottom_centre, anchor) <= reach
            ):
                del self._objects[old_id]
                return watched
        return None

    def _removed(self, frame: FrameRef, ended: set[str]) -> list[Event]:
        now, events = frame.captured_at, []
        for track_id, watched in list(self._objects.items()):
            unseen_s = now - watched.last_observed
            if watched.static_since is None:
                if track_id in ended or unseen_s > self.spec.removal_grace_s:
                    del self._objects[track_id]  # passing through: never a removal
                continue
            if not reached(unseen_s, self.spec.removal_grace_s):
                continue
            del self._objects[track_id]
            if not self.spec.report_removal:
                continue
            events.append(
                make_event(
                    EventKind.OBJECT_REMOVED,
                    frame,
                    self.zone,
                    class_name=watched.class_name,
                    track_ids=(track_id,),
                    details={
                        "stood_s": fmt(watched.last_observed - watched.static_since),
                        "unseen_s": fmt(unseen_s),
                        "was_abandoned": str(watched.abandoned).lower(),
                        "box": _box_text(watched.box),
                    },
                )
            )
        return events
