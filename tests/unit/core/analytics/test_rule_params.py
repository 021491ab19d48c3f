"""Rule parameters are checked once, at load: each bad value is refused naming the parameter."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from vigie_core.analytics.rules.loitering import LoiteringSpec
from vigie_core.analytics.rules.person_down import PersonDownSpec
from vigie_core.analytics.rules.stopped_vehicle import StoppedVehicleSpec
from vigie_core.analytics.rules.wrong_way import WrongWaySpec
from vigie_core.rules import (
    CARRIED_OBJECTS,
    PERSON,
    VEHICLES,
    AbandonedSpec,
    CrowdSpec,
    OccupancySpec,
    WeaponSpec,
)
from vigie_core.scene import ZoneSpec

from .scenes import FLOOR

UP = (0.0, -1.0)
NAN, INF = math.nan, math.inf

BAD: list[tuple[str, Callable[[], object], str]] = [
    ("loitering zero", lambda: LoiteringSpec(max_dwell_s=0.0), r"loitering\.max_dwell_s"),
    ("loitering negative", lambda: LoiteringSpec(max_dwell_s=-5.0), r"loitering\.max_dwell_s"),
    ("loitering nan", lambda: LoiteringSpec(max_dwell_s=NAN), r"loitering\.max_dwell_s"),
    ("loitering inf", lambda: LoiteringSpec(max_dwell_s=INF), r"loitering\.max_dwell_s"),
    ("classes string", lambda: LoiteringSpec(classes="person"), "classes .*not the string"),  # type: ignore[arg-type]
    ("classes blank", lambda: LoiteringSpec(classes=frozenset({" "})), "class names"),
    ("direction zero", lambda: WrongWaySpec(direction=(0.0, 0.0)), r"wrong_way\.direction"),
    ("direction nan", lambda: WrongWaySpec(direction=(NAN, 1.0)), r"wrong_way\.direction"),
    ("direction inf", lambda: WrongWaySpec(direction=(INF, 0.0)), r"wrong_way\.direction"),
    ("min_speed", lambda: WrongWaySpec(UP, min_speed=0.0), r"wrong_way\.min_speed"),
    ("tolerance 0", lambda: WrongWaySpec(UP, tolerance_deg=0.0), r"wrong_way\.tolerance_deg"),
    ("tolerance 90", lambda: WrongWaySpec(UP, tolerance_deg=90.0), r"wrong_way\.tolerance_deg"),
    ("tolerance neg", lambda: WrongWaySpec(UP, tolerance_deg=-10.0), r"wrong_way\.tolerance_deg"),
    ("tolerance nan", lambda: WrongWaySpec(UP, tolerance_deg=NAN), r"wrong_way\.tolerance_deg"),
    ("ww duration", lambda: WrongWaySpec(UP, min_duration_s=-1.0), r"wrong_way\.min_duration_s"),
    ("stop zero", lambda: StoppedVehicleSpec(max_stop_s=0.0), r"stopped_vehicle\.max_stop_s"),
    ("stop radius", lambda: StoppedVehicleSpec(still_radius=0.0), r"stopped_vehicle\.still_radius"),
    ("down zero", lambda: PersonDownSpec(min_down_s=0.0), r"person_down\.min_down_s"),
    ("lying zero", lambda: PersonDownSpec(lying_ratio=0.0), r"person_down\.lying_ratio"),
    ("standing zero", lambda: PersonDownSpec(standing_ratio=0.0), r"person_down\.standing_ratio"),
    (
        "standing not below lying",
        lambda: PersonDownSpec(standing_ratio=1.2, lying_ratio=1.2),
        r"person_down\.standing_ratio must be below person_down\.lying_ratio",
    ),
    ("down speed", lambda: PersonDownSpec(max_speed=-0.1), r"person_down\.max_speed"),
    ("abandoned none", lambda: AbandonedSpec(classes=frozenset()), r"abandoned\.classes"),
    ("static zero", lambda: AbandonedSpec(static_s=0.0), r"abandoned\.static_s"),
    ("unattended", lambda: AbandonedSpec(unattended_s=-1.0), r"abandoned\.unattended_s"),
    ("owner radius", lambda: AbandonedSpec(owner_radius=0.0), r"abandoned\.owner_radius"),
    ("still radius", lambda: AbandonedSpec(still_radius=NAN), r"abandoned\.still_radius"),
    ("grace", lambda: AbandonedSpec(removal_grace_s=-0.5), r"abandoned\.removal_grace_s"),
    ("max_people", lambda: CrowdSpec(max_people=0), r"crowd\.max_people"),
    ("density", lambda: CrowdSpec(max_density_per_m2=0.0), r"crowd\.max_density_per_m2"),
    ("crowd duration", lambda: CrowdSpec(min_duration_s=-1.0), r"crowd\.min_duration_s"),
    ("clear", lambda: CrowdSpec(clear_s=INF), r"crowd\.clear_s"),
    ("min_people", lambda: CrowdSpec(min_people=1), r"crowd\.min_people"),
    ("window", lambda: CrowdSpec(window_s=0.0), r"crowd\.window_s"),
    ("baseline zero", lambda: CrowdSpec(baseline_s=0.0), r"crowd\.baseline_s"),
    (
        "baseline not longer",
        lambda: CrowdSpec(window_s=5.0, baseline_s=5.0),
        r"crowd\.baseline_s must be longer than crowd\.window_s",
    ),
    ("rush 1", lambda: CrowdSpec(rush_factor=1.0), r"crowd\.rush_factor"),
    ("rush nan", lambda: CrowdSpec(rush_factor=NAN), r"crowd\.rush_factor"),
    ("dispersal", lambda: CrowdSpec(dispersal_factor=0.5), r"crowd\.dispersal_factor"),
    ("rush speed", lambda: CrowdSpec(min_rush_speed=0.0), r"crowd\.min_rush_speed"),
    ("period", lambda: OccupancySpec(period_s=0.0), r"occupancy\.period_s"),
    ("weapon string", lambda: WeaponSpec(classes="knife"), "not the string"),  # type: ignore[arg-type]
    ("zone area", lambda: ZoneSpec("z", FLOOR, area_m2=0.0), "'z' area_m2"),
    ("zone dwell", lambda: ZoneSpec("z", FLOOR, min_dwell_s=NAN), "'z' min_dwell_s"),
    ("exit grace", lambda: ZoneSpec("z", FLOOR, exit_grace_s=-1.0), "'z' exit_grace_s"),
]


@pytest.mark.parametrize(("build", "names"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_value_is_refused_naming_the_parameter(
    build: Callable[[], object], names: str
) -> None:
    with pytest.raises(ValueError, match=names):
        build()


def test_a_direction_that_is_not_a_pair_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"wrong_way\.direction"):
        WrongWaySpec(direction=(0.0, -1.0, 0.0))  # type: ignore[arg-type]


def test_limits_that_are_allowed() -> None:
    assert WrongWaySpec(UP, min_duration_s=0.0, tolerance_deg=89.9).min_duration_s == 0.0
    assert AbandonedSpec(unattended_s=0.0, removal_grace_s=0.0).unattended_s == 0.0
    spec = CrowdSpec(max_people=1, min_duration_s=0.0, clear_s=0.0, min_people=2)
    assert (spec.max_people, spec.min_people) == (1, 2)
    assert PersonDownSpec(standing_ratio=1.19, lying_ratio=1.2).standing_ratio == 1.19


def test_the_direction_is_normalised() -> None:
    spec = WrongWaySpec(direction=(3, 4))  # type: ignore[arg-type]
    assert spec.direction == (0.6, 0.8)
    assert all(isinstance(v, float) for v in spec.direction)


def test_classes_become_a_frozenset() -> None:
    spec = LoiteringSpec(classes=["person", "dog", "person"])  # type: ignore[arg-type]
    assert spec.classes == frozenset({"person", "dog"})
    assert isinstance(spec.classes, frozenset)


def test_defaults() -> None:
    assert (LoiteringSpec().max_dwell_s, LoiteringSpec().classes) == (60.0, PERSON)
    ww = WrongWaySpec(UP)
    assert (ww.classes, ww.min_speed, ww.tolerance_deg, ww.min_duration_s) == (
        PERSON | VEHICLES,
        0.03,
        45.0,
        1.0,
    )
    sv = StoppedVehicleSpec()
    assert (sv.max_stop_s, sv.classes, sv.still_radius) == (30.0, VEHICLES, 0.02)
    pd = PersonDownSpec()
    assert (pd.min_down_s, pd.lying_ratio, pd.standing_ratio, pd.max_speed) == (5.0, 1.2, 0.8, 0.05)
    ab = AbandonedSpec()
    assert (ab.classes, ab.static_s, ab.unattended_s, ab.owner_radius) == (
        CARRIED_OBJECTS,
        30.0,
        10.0,
        0.15,
    )
    assert (ab.still_radius, ab.report_removal, ab.removal_grace_s) == (0.02, True, 2.0)
    cr = CrowdSpec()
    assert (cr.max_people, cr.max_density_per_m2, cr.min_people, cr.movement) == (
        None,
        None,
        4,
        True,
    )
    assert (cr.window_s, cr.baseline_s, cr.rush_factor, cr.dispersal_factor) == (
        2.0,
        60.0,
        2.5,
        1.6,
    )
    assert (OccupancySpec().period_s, OccupancySpec().classes) == (60.0, PERSON)
    assert WeaponSpec().classes == frozenset()
