"""The per-stay rule registry: each rule found by name, a zone's parameters held by their type,
and a rule added in one module run, saved and restored without touching the analyser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from vigie_core.analytics import SceneAnalyzer
from vigie_core.analytics.explain import fmt
from vigie_core.analytics.rules import registry
from vigie_core.analytics.rules.intrusion import IntrusionSpec
from vigie_core.analytics.rules.loitering import LoiteringSpec
from vigie_core.analytics.rules.person_down import PersonDownSpec
from vigie_core.analytics.rules.registry import Seen, StayRule, register, stay_rule, stay_rules
from vigie_core.analytics.rules.stopped_vehicle import StoppedVehicleSpec
from vigie_core.analytics.rules.wrong_way import WrongWaySpec
from vigie_core.analytics.visit import Since, Visit, reached
from vigie_core.rules import AbandonedSpec, positive
from vigie_core.scene import ZoneSpec
from vigie_core.types import EventKind

from .scenes import FLOOR, INSIDE, OUTSIDE, Clip, along, moving, offset, run, scene, zone


def test_every_per_stay_rule_is_registered_under_its_name_with_its_kind() -> None:
    assert [(rule.name, rule.kind, rule.inline) for rule in stay_rules()] == [
        ("intrusion", EventKind.ZONE_INTRUSION, True),
        ("loitering", EventKind.LOITERING, False),
        ("person_down", EventKind.PERSON_DOWN, False),
        ("stopped_vehicle", EventKind.STOPPED_VEHICLE, False),
        ("wrong_way", EventKind.WRONG_WAY, False),
    ]
    assert stay_rule("loitering").params is LoiteringSpec
    with pytest.raises(KeyError, match="no per-stay rule named 'sitting'"):
        stay_rule("sitting")


def test_a_zone_holds_its_rules_by_name_in_name_order() -> None:
    ww, loitering = WrongWaySpec(direction=(0.0, -1.0)), LoiteringSpec()
    one = ZoneSpec("z", FLOOR, rules=(ww, loitering))
    assert one.rules == (loitering, ww)
    assert one == ZoneSpec("z", FLOOR, rules=[loitering, ww])  # type: ignore[arg-type]
    assert one.rule(WrongWaySpec) is ww
    assert one.rule(PersonDownSpec) is None
    assert stay_rule("wrong_way").params_of(one) is ww


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            (LoiteringSpec(), LoiteringSpec(5.0)),
            "has vigie_core.analytics.rules.loitering.LoiteringSpec more than once",
        ),
        (("loitering",), "is not a rule's parameters"),
        ((LoiteringSpec,), "is not a rule's parameters"),
        (LoiteringSpec(), "must be a sequence"),
    ],
)
def test_a_zone_refuses_rules_it_cannot_apply_unambiguously(rules: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ZoneSpec("z", FLOOR, rules=rules)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (IntrusionSpec(), "zone 'z': the intrusion rule is set by the zone's own fields"),
        (AbandonedSpec(), "zone 'z': AbandonedSpec is not the parameters of any per-stay rule"),
    ],
)
def test_the_analyser_refuses_parameters_no_rule_owns(params: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SceneAnalyzer(scene(ZoneSpec("z", FLOOR, rules=(params,))))


def test_intrusion_takes_its_parameters_from_the_zone() -> None:
    rule = stay_rule("intrusion")
    watched = ZoneSpec("z", FLOOR, frozenset({"car"}), 2.0, frozenset({"van"}))
    assert rule.params_of(watched) == IntrusionSpec(frozenset({"car"}), frozenset({"van"}), 2.0)
    assert rule.params_of(ZoneSpec("z", FLOOR, intrusion=False)) is None
    for cls in ("car", "van", "person"):
        assert rule.applies(rule.params_of(watched), cls) == watched.applies_to(cls)
    with pytest.raises(ValueError, match=r"intrusion\.min_dwell_s"):
        IntrusionSpec(min_dwell_s=-1.0)


@dataclass(frozen=True, slots=True)
class OtherSpec:
    pass


def _rule(name: str, params: type[Any], kind: EventKind) -> type[StayRule[Any]]:
    class Rule(StayRule[Any]):
        def applies(self, params: Any, class_name: str) -> bool:
            return True

        def check(self, params: Any, visit: Visit, seen: Seen) -> dict[str, str] | None:
            return None

    Rule.name, Rule.params, Rule.kind = name, params, kind
    return Rule


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (_rule("loitering", OtherSpec, EventKind.FIRE), "a rule named 'loitering' is already"),
        (_rule("other", OtherSpec, EventKind.LOITERING), "'loitering' and 'other' both raise"),
        (_rule("other", LoiteringSpec, EventKind.FIRE), "'loitering' and 'other' share their"),
    ],
)
def test_a_rule_name_kind_and_parameters_belong_to_one_rule(
    rule: type[StayRule[Any]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        register(rule)
    assert [r.name for r in stay_rules()].count("other") == 0


# --- a rule added in one place ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StandingSpec:
    """A test rule: someone standing in one place (within ``radius``) for ``min_s``."""

    min_s: float = 3.0
    radius: float = 0.05

    def __post_init__(self) -> None:
        positive(self.min_s, "standing.min_s")


class Standing(StayRule[StandingSpec]):
    """Measures since when the track has stood still (a ``Since``), and notes every track it
    has seen moving."""

    name = "standing"
    params = StandingSpec
    kind = EventKind.FIRE  # any kind no registered rule raises

    def applies(self, params: StandingSpec, class_name: str) -> bool:
        return class_name == "person"

    def check(self, params: StandingSpec, visit: Visit, seen: Seen) -> dict[str, str] | None:
        speed = seen.speed()
        if speed is None or speed > params.radius:
            visit.stop(self.name)
            return None
        standing_s = seen.now - visit.held_since(self.name, seen.now)
        if not reached(standing_s, params.min_s) or seen.notes.get(self.name) is not True:
            return None
        return {"standing_s": fmt(standing_s)}

    def read_measure(self, value: Any, where: str) -> Since:
        return Since.restore(value, where)

    def follow(self, params: Any, seen: Seen, note: Any) -> Any:
        speed = seen.speed()
        return True if speed is not None and speed > max(p.radius for p in params) else note

    def read_note(self, value: Any, where: str) -> Any:
        return value


@pytest.fixture
def with_standing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_RULES", dict(registry._RULES))
    register(Standing)
    yield


@pytest.mark.usefixtures("with_standing")
def test_a_registered_rule_is_run_saved_and_restored_by_the_analyser() -> None:
    spec = scene(zone(rules=(StandingSpec(min_s=3.0),)), occupancy=None)
    walk = along((0.0, OUTSIDE), (2.0, INSIDE))
    clip = Clip().span(0, 12, moving("p1", walk))
    events = run(SceneAnalyzer(spec), clip)
    # In at 2 s; the speed over the last second falls under the radius at 2.8 s.
    assert [(e.kind, offset(e), e.details) for e in events] == [
        (EventKind.FIRE, 5.8, {"standing_s": "3.000"})
    ]
    analyzer, resumed = SceneAnalyzer(spec), []
    for frame in clip.frames:
        doc = json.loads(json.dumps(analyzer.snapshot()))
        analyzer = SceneAnalyzer.restore(spec, doc)
        resumed.extend(analyzer.update(frame))
    assert resumed == events
    assert doc["tracks"][0]["notes"] == {"standing": True}
    assert list(doc["tracks"][0]["visits"]["floor"]["measures"]) == ["standing"]


def test_the_scene_helper_passes_rules_by_name() -> None:
    down = PersonDownSpec()
    assert zone(person_down=down, stopped_vehicle=StoppedVehicleSpec()).rule(PersonDownSpec) is down
