"""Weapon: each track of a configured weapon class raises one event, on its first observed
frame, named after the zone it stands in (if any)."""

from __future__ import annotations

from vigie_core.analytics import SceneAnalyzer
from vigie_core.rules import WeaponSpec
from vigie_core.types import EventKind

from .scenes import INSIDE, LOST, OUTSIDE, Clip, analyser, offset, run, still, track, zone

KNIFE = WeaponSpec(frozenset({"knife"}))


def watched(spec: WeaponSpec | None = KNIFE) -> SceneAnalyzer:
    return analyser(zone(), weapon=spec)


def test_a_weapon_track_raises_one_event_with_its_explanation() -> None:
    knife = track("k1", INSIDE, cls="knife", size=(0.03, 0.05), confidence=0.62)
    clip = Clip().span(0, 1, still("p1")).span(1, 30, lambda t: [track("p1", INSIDE), knife])
    events = run(watched(), clip)
    assert len(events) == 1
    event = events[0]
    assert event.kind is EventKind.WEAPON
    assert (event.zone, event.class_name, event.track_ids) == ("floor", "knife", ("k1",))
    assert event.frame == clip.at(1.0)
    assert event.details == {"confidence": "0.620", "classes": "knife"}


def test_every_track_has_its_own_event() -> None:
    clip = (
        Clip()
        .span(0, 5, still("k1", INSIDE, cls="knife"))
        .span(
            5, 10, lambda t: [track("k1", INSIDE, cls="knife"), track("k2", OUTSIDE, cls="knife")]
        )
    )
    events = run(watched(), clip)
    assert [(offset(e), e.track_ids, e.zone) for e in events] == [
        (0.0, ("k1",), "floor"),
        (5.0, ("k2",), ""),  # outside every zone
    ]


def test_only_the_configured_classes() -> None:
    clip = Clip().span(0, 5, lambda t: [track("g1", INSIDE, cls="gun"), track("p1", INSIDE)])
    assert run(watched(), clip) == []
    both = WeaponSpec(frozenset({"gun", "knife"}))
    events = run(watched(both), clip)
    assert [(e.track_ids, e.details["classes"]) for e in events] == [(("g1",), "gun,knife")]


def test_no_weapon_spec_no_event() -> None:
    assert run(watched(None), Clip().span(0, 5, still("k1", cls="knife"))) == []
    assert run(watched(WeaponSpec()), Clip().span(0, 5, still("k1", cls="knife"))) == []


def test_not_raised_on_a_lost_prediction() -> None:
    clip = (
        Clip().span(0, 2, still("k1", cls="knife", state=LOST)).span(2, 4, still("k1", cls="knife"))
    )
    assert [offset(e) for e in run(watched(), clip)] == [2.0]


def test_a_track_that_ended_and_comes_back_raises_again() -> None:
    clip = Clip().span(0, 2, still("k1", cls="knife"))
    clip.add(2.0, ended=["k1"])
    clip.span(3, 5, still("k1", cls="knife"))
    assert [offset(e) for e in run(watched(), clip)] == [0.0, 3.0]


def test_replay_gives_identical_events() -> None:
    clip = Clip().span(0, 5, still("k1", cls="knife"))
    first, second = run(watched(), clip), run(watched(), clip)
    assert len(first) == 1
    assert first == second
