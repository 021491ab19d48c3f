"""What a per-stay rule is, and the registry that finds rules by name.

A per-stay rule looks at one track during one stay in one zone (``Visit``) and raises its event
kind at most once per stay. Each is one module of this package: a :class:`StayRule` subclass
decorated with :func:`register` that names the rule, its event kind and its parameters' type (a
frozen dataclass checked in ``__post_init__``, defined in the same module). A zone holds
parameters (``ZoneSpec.rules``), the registry says whose they are: the analyser runs every
registered rule a zone has parameters for, and the scene file reads a zone's
``<rule name>: {...}`` block into them. Nothing else names a rule, so adding one is a module,
its ``EventKind`` and its tests.

Events of one track raised on the same frame come in the order the rules were registered, which
is the order of their module names (the package imports them sorted).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from vigie_core.analytics.motion import SPEED_WINDOW_S, Motion
from vigie_core.analytics.visit import Measure, Visit
from vigie_core.geometry import Point
from vigie_core.scene import ZoneSpec
from vigie_core.snapshots import invalid
from vigie_core.types import Box, EventKind, FrameRef, Track

P = TypeVar("P")


def pixel_ratio(box: Box, frame: FrameRef) -> float:
    """Width over height of the box in pixels (normalised boxes distort it by the frame's
    aspect); a frame of unknown size is taken as 16:9."""
    width, height = (frame.width, frame.height) if frame.width and frame.height else (16, 9)
    h = box.height * height
    return math.inf if h <= 0 else box.width * width / h


@dataclass(frozen=True, slots=True)
class Seen:
    """One observed frame of one track, as the rules see it: the track, its anchor (the box's
    bottom-centre), how it has been moving, and the notes rules keep about it across zones."""

    track: Track
    frame: FrameRef
    anchor: Point
    motion: Motion
    notes: Mapping[str, Any]

    @property
    def now(self) -> float:
        return self.frame.captured_at

    def velocity(self) -> tuple[float, float] | None:
        """Over about a second; None until half of it has been observed."""
        return self.motion.velocity(SPEED_WINDOW_S)

    def speed(self) -> float | None:
        return self.motion.speed(SPEED_WINDOW_S)

    def box_ratio(self) -> float:
        return pixel_ratio(self.track.box, self.frame)


class StayRule(ABC, Generic[P]):
    """One per-stay rule. Subclasses set ``name`` (the key of its block in a zone of the scene
    file), ``params`` (their parameters' type) and ``kind``, and implement ``applies`` and
    ``check``. An ``inline`` rule (intrusion) reads its parameters from the zone's own fields,
    as the scene file has always spelt them, rather than from ``ZoneSpec.rules``.

    A rule that measures something over a stay keeps it in ``visit.measures`` under its name
    and reads it back from a snapshot in ``read_measure``. A rule that needs to remember
    something about a track across zones and stays (that a person was seen standing) returns it
    from ``follow``, called on every observed frame of every track of a camera whose zones have
    the rule, and reads it back in ``read_note``; rules see the notes as ``Seen.notes``.
    """

    name: ClassVar[str]
    params: ClassVar[type[Any]]
    kind: ClassVar[EventKind]
    inline: ClassVar[bool] = False

    def params_of(self, zone: ZoneSpec) -> P | None:
        """This rule's parameters in ``zone``; None when the zone is not watched for it."""
        found: P | None = zone.rule(self.params)
        return found

    @abstractmethod
    def applies(self, params: P, class_name: str) -> bool:
        """Whether tracks of this class are watched by the rule."""

    @abstractmethod
    def check(self, params: P, visit: Visit, seen: Seen) -> dict[str, str] | None:
        """The event's explanation when the rule holds on this frame of the stay, else None.
        Called on every observed frame inside while the zone's schedule is active, also after
        the rule has raised (so that what it measures stays current)."""

    def read_measure(self, value: Any, where: str) -> Measure:
        raise invalid(where, f"the {self.name} rule measures nothing")

    def follow(self, params: Sequence[P], seen: Seen, note: Any) -> Any:
        """The track's note after this frame (``params``: the rule's in every zone having it);
        None keeps no note. By default the rule keeps none."""
        return note

    def read_note(self, value: Any, where: str) -> Any:
        raise invalid(where, f"the {self.name} rule keeps no note about a track")


_RULES: dict[str, StayRule[Any]] = {}

R = TypeVar("R", bound=type[StayRule[Any]])


def register(rule_class: R) -> R:
    """Class decorator: adds one instance of the rule to the registry, under its name. A name,
    an event kind and a parameters' type each belong to one rule."""
    rule = rule_class()
    for other in _RULES.values():
        if other.name == rule.name:
            raise ValueError(f"a rule named {rule.name!r} is already registered")
        if other.kind is rule.kind:
            raise ValueError(f"rules {other.name!r} and {rule.name!r} both raise {rule.kind.value}")
        if other.params is rule.params:
            raise ValueError(f"rules {other.name!r} and {rule.name!r} share their parameters")
    _RULES[rule.name] = rule
    return rule_class


def rule_of(params: object) -> StayRule[Any]:
    """The registered rule whose parameters block these are."""
    for rule in _RULES.values():
        if type(params) is rule.params:
            if rule.inline:
                raise ValueError(f"the {rule.name} rule is set by the zone's own fields")
            return rule
    raise ValueError(f"{type(params).__name__} is not the parameters of any per-stay rule")


def stay_rules() -> tuple[StayRule[Any], ...]:
    """Every registered rule, in registration order."""
    return tuple(_RULES.values())


def stay_rule(name: str) -> StayRule[Any]:
    try:
        return _RULES[name]
    except KeyError:
        known = ", ".join(_RULES)
        raise KeyError(f"no per-stay rule named {name!r} (known: {known})") from None
