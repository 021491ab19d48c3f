"""Unit tests of the scene file models and their conversion to core scene specs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from vigie_core.analytics import SceneAnalyzer
from vigie_core.geometry import Line, Polygon
from vigie_core.scene import CountDirection, LineSpec, SceneSpec, ZoneSpec
from vigie_runtime.scenes import SceneFile, load_scenes
from vigie_runtime.yamlconf import ConfigError

SCENES = Path(__file__).resolve().parents[3] / "services/analytics/vigie_analytics/scenes"

VALID: dict[str, Any] = {
    "cameras": {
        "entrance": {
            "zones": [
                {
                    "name": "table",
                    "polygon": [[0.45, 0.55], [0.75, 0.55], [0.75, 1.0], [0.45, 1.0]],
                    "classes": ["person"],
                    "min_dwell_s": 0.5,
                }
            ],
            "lines": [
                {
                    "name": "door",
                    "a": [0.1, 0.5],
                    "b": [0.9, 0.5],
                    "classes": ["person", "car"],
                    "count_direction": "both",
                    "hysteresis": 0.01,
                }
            ],
        }
    }
}


def with_change(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A deep copy of VALID with the value at ``path`` replaced (or added)."""
    data = copy.deepcopy(VALID)
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def errors_of(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as info:
        SceneFile.model_validate(data)
    return [(tuple(err["loc"]), err["msg"]) for err in info.value.errors()]


ZONE = ("cameras", "entrance", "zones", 0)
LINE = ("cameras", "entrance", "lines", 0)


# --- valid files --------------------------------------------------------------------------------


def test_a_valid_file_converts_to_scene_specs() -> None:
    specs = SceneFile.model_validate(VALID).to_specs()
    assert specs == {
        "entrance": SceneSpec(
            camera_id="entrance",
            zones=(
                ZoneSpec(
                    name="table",
                    polygon=Polygon(((0.45, 0.55), (0.75, 0.55), (0.75, 1.0), (0.45, 1.0))),
                    classes=frozenset({"person"}),
                    min_dwell_s=0.5,
                ),
            ),
            lines=(
                LineSpec(
                    name="door",
                    line=Line((0.1, 0.5), (0.9, 0.5)),
                    classes=frozenset({"person", "car"}),
                    count_direction=CountDirection.BOTH,
                    hysteresis=0.01,
                ),
            ),
        )
    }


def test_optional_keys_take_their_defaults() -> None:
    data = {
        "cameras": {
            "lobby": {
                "zones": [{"name": "desk", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.3, 0.5]]}],
                "lines": [{"name": "door", "a": [0.1, 0.5], "b": [0.9, 0.5]}],
            }
        }
    }
    spec = SceneFile.model_validate(data).to_specs()["lobby"]
    assert spec.zones[0].classes == frozenset()
    assert spec.zones[0].min_dwell_s == 0.0
    assert spec.lines[0].count_direction is CountDirection.BOTH
    assert spec.lines[0].hysteresis == 0.01


def test_an_empty_file_has_no_cameras() -> None:
    assert SceneFile.model_validate({}).to_specs() == {}


def test_a_camera_may_have_no_rules() -> None:
    assert SceneFile.model_validate({"cameras": {"quiet": {}}}).to_specs() == {
        "quiet": SceneSpec("quiet")
    }


def test_an_unquoted_numeric_camera_id_is_read_as_text() -> None:
    assert list(SceneFile.model_validate({"cameras": {12: {}}}).to_specs()) == ["12"]


# --- invalid files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ([[0.1, 0.1], [0.5, 0.5]], "at least 3 points"),
        ([[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]], "outside the frame"),
        ([[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]], "cross each other"),
        ([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]], "no area"),
    ],
)
def test_a_bad_polygon_is_reported_at_the_polygon(polygon: list[list[float]], message: str) -> None:
    [(loc, msg)] = errors_of(with_change((*ZONE, "polygon"), polygon))
    assert loc == (*ZONE, "polygon")
    assert message in msg


def test_a_polygon_point_must_be_a_pair() -> None:
    [(loc, _)] = errors_of(with_change((*ZONE, "polygon"), [[0.1, 0.1], [0.5], [0.3, 0.5]]))
    assert loc[: len(ZONE) + 1] == (*ZONE, "polygon")


def test_duplicate_zone_names_are_rejected() -> None:
    zones = VALID["cameras"]["entrance"]["zones"]
    [(loc, msg)] = errors_of(with_change(("cameras", "entrance", "zones"), zones * 2))
    assert loc == ("cameras", "entrance", "zones")
    assert "duplicate names ['table']" in msg


def test_duplicate_line_names_are_rejected() -> None:
    lines = VALID["cameras"]["entrance"]["lines"]
    [(loc, msg)] = errors_of(with_change(("cameras", "entrance", "lines"), lines * 2))
    assert loc == ("cameras", "entrance", "lines")
    assert "duplicate names ['door']" in msg


def test_a_zone_and_a_line_may_not_share_a_name() -> None:
    [(loc, msg)] = errors_of(with_change((*LINE, "name"), "table"))
    assert loc == ("cameras", "entrance")
    assert "both a zone and a line" in msg


def test_the_same_names_in_two_cameras_are_fine() -> None:
    data = copy.deepcopy(VALID)
    data["cameras"]["exit"] = copy.deepcopy(data["cameras"]["entrance"])
    assert set(SceneFile.model_validate(data).to_specs()) == {"entrance", "exit"}


@pytest.mark.parametrize(
    "path",
    [
        ("unexpected",),
        ("cameras", "entrance", "areas"),
        (*ZONE, "colour"),
        (*LINE, "min_dwell_s"),
    ],
)
def test_unknown_keys_are_rejected(path: tuple[str | int, ...]) -> None:
    [(loc, msg)] = errors_of(with_change(path, 1))
    assert loc == path
    assert "Extra inputs are not permitted" in msg


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ((*ZONE, "min_dwell_s"), -0.5),
        ((*LINE, "hysteresis"), -0.01),
        ((*LINE, "hysteresis"), 0.5),
        ((*ZONE, "min_dwell_s"), float("nan")),
    ],
)
def test_out_of_range_thresholds_are_rejected(path: tuple[str | int, ...], value: float) -> None:
    [(loc, _)] = errors_of(with_change(path, value))
    assert loc == path


def test_a_line_end_off_the_frame_is_reported_at_that_end() -> None:
    [(loc, msg)] = errors_of(with_change((*LINE, "b"), [1.2, 0.5]))
    assert loc == (*LINE, "b")
    assert "outside the frame" in msg


def test_a_line_without_length_is_rejected() -> None:
    [(loc, msg)] = errors_of(with_change((*LINE, "b"), [0.1, 0.5]))
    assert loc == LINE
    assert "no length" in msg


def test_an_unknown_count_direction_lists_the_choices() -> None:
    [(loc, msg)] = errors_of(with_change((*LINE, "count_direction"), "inwards"))
    assert loc == (*LINE, "count_direction")
    assert "'both', 'forward' or 'backward'" in msg


@pytest.mark.parametrize("name", ["", "   "])
def test_blank_names_are_rejected(name: str) -> None:
    [(loc, _)] = errors_of(with_change((*ZONE, "name"), name))
    assert loc == (*ZONE, "name")


# --- shipped examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SCENES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scene_files_parse(path: Path) -> None:
    specs = SceneFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))).to_specs()
    assert specs
    for spec in specs.values():
        SceneAnalyzer(spec)


def test_the_one_by_one_example_watches_the_table_and_the_way_in() -> None:
    data = yaml.safe_load((SCENES / "one-by-one.yaml").read_text(encoding="utf-8"))
    spec = SceneFile.model_validate(data).to_specs()["one-by-one"]
    [table] = spec.zones
    assert table.name == "table"
    # Feet of people standing at the table in the clip (labelled by hand for this test): bottom
    # centre around x 0.55-0.65, y 0.83-0.96.
    for anchor in [(0.56, 0.83), (0.60, 0.88), (0.65, 0.92), (0.58, 0.96), (0.60, 1.0)]:
        assert table.polygon.contains(anchor), anchor
    # People coming in at the lower left, and leaving along the right towards the right edge.
    for anchor in [(0.35, 0.98), (0.80, 0.90), (0.90, 0.88), (0.20, 0.80)]:
        assert not table.polygon.contains(anchor), anchor
    [entry] = spec.lines
    assert entry.name == "room-entry"
    assert entry.count_direction is CountDirection.FORWARD


# --- loading ------------------------------------------------------------------------------------


def test_load_scenes_reads_the_file_every_stage_shares() -> None:
    specs = load_scenes(SCENES / "one-by-one.yaml")
    assert list(specs) == ["one-by-one"]
    assert [zone.name for zone in specs["one-by-one"].zones] == ["table"]


def test_no_scene_file_is_no_scene() -> None:
    assert load_scenes(None) == {}


def test_load_scenes_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "scenes.yaml"
    path.write_text(
        "cameras:\n  gate:\n    zones:\n      - name: door\n        polygon: [[0, 0], [1, 0]]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=rf"{path}:5: cameras\.gate\.zones\.0\.polygon"):
        load_scenes(path)
