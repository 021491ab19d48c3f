"""The scene file reads each zone's per-stay rule blocks by rule name, from the rule registry."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vigie_core.analytics.rules import stay_rules
from vigie_core.analytics.rules.loitering import LoiteringSpec
from vigie_core.analytics.rules.person_down import PersonDownSpec
from vigie_core.analytics.rules.stopped_vehicle import StoppedVehicleSpec
from vigie_core.analytics.rules.wrong_way import WrongWaySpec
from vigie_runtime.scenes import SceneFile, ZoneConfig

ZONE = ("cameras", "gate", "zones", 0)


def zone_with(**blocks: Any) -> dict[str, Any]:
    polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
    return {"cameras": {"gate": {"zones": [{"name": "lane", "polygon": polygon, **blocks}]}}}


def test_every_registered_rule_with_a_block_is_a_zone_key() -> None:
    blocks = {rule.name for rule in stay_rules() if not rule.inline}
    assert blocks == {"loitering", "person_down", "stopped_vehicle", "wrong_way"}
    assert blocks <= set(ZoneConfig.model_fields)
    assert "intrusion" in ZoneConfig.model_fields  # the zone's own switch, not a block


def test_rule_blocks_become_the_zone_s_rule_parameters() -> None:
    data = zone_with(
        loitering={"max_dwell_s": 12},
        wrong_way={"direction": [0, -2], "min_speed": 0.05},
        stopped_vehicle={"max_stop_s": 30, "classes": ["car"]},
        person_down={},
        min_dwell_s=1.5,
    )
    (lane,) = SceneFile.model_validate(data).to_specs()["gate"].zones
    assert lane.rules == (
        LoiteringSpec(max_dwell_s=12.0),
        PersonDownSpec(),
        StoppedVehicleSpec(max_stop_s=30.0, classes=frozenset({"car"})),
        WrongWaySpec(direction=(0.0, -1.0), min_speed=0.05),
    )
    assert (lane.intrusion, lane.min_dwell_s) == (True, 1.5)


def test_a_zone_without_blocks_has_no_rules_but_intrusion() -> None:
    (lane,) = SceneFile.model_validate(zone_with()).to_specs()["gate"].zones
    assert lane.rules == ()
    assert lane.intrusion


@pytest.mark.parametrize(
    ("blocks", "loc", "message"),
    [
        ({"loitering": {"max_dwell_s": 0}}, (*ZONE, "loitering"), "loitering.max_dwell_s"),
        ({"loitering": {"max_dwel_s": 3}}, (*ZONE, "loitering", "max_dwel_s"), "Unexpected"),
        ({"wrong_way": {}}, (*ZONE, "wrong_way", "direction"), "Field required"),
        ({"loitering": 3}, (*ZONE, "loitering"), "dictionary"),
        ({"sitting": {}}, (*ZONE, "sitting"), "Extra inputs are not permitted"),
    ],
)
def test_a_bad_block_is_reported_at_its_key(
    blocks: dict[str, Any], loc: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        SceneFile.model_validate(zone_with(**blocks))
    [error] = info.value.errors()
    assert error["loc"] == loc
    assert message in error["msg"]
