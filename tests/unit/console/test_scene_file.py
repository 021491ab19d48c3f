"""The editor's scene merged into the file, checked by the checker of check-config, written
atomically with a backup; and what it refuses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from vigie_console.scene_file import SceneFile, SceneRefused
from vigie_runtime.scenes import load_scenes

SCENE = """\
cameras:
  gate:
    timezone: Europe/Paris
    zones:
      - name: table
        polygon: [[0.4, 0.7], [0.7, 0.7], [0.7, 1.0], [0.4, 1.0]]
        classes: [person]
        schedule:
          - {days: [mon], start: "22:00", end: "06:00"}
        loitering: {max_dwell_s: 60}
    lines:
      - {name: door, a: [0.1, 0.5], b: [0.9, 0.5], count_direction: forward}
  other:
    zones:
      - {name: yard, polygon: [[0, 0], [1, 0], [1, 1]]}
"""


@pytest.fixture
def scenes(tmp_path: Path) -> SceneFile:
    path = tmp_path / "scenes.yaml"
    path.write_text(SCENE)
    return SceneFile(path, writable=True, backups=2)


def save(scenes: SceneFile, camera: str, edited: dict[str, object]) -> None:
    data, current, zones, lines = scenes.candidate(camera, edited)
    scenes.check(data)
    scenes.write(camera, data, current, zones, lines)


def test_geometry_is_what_the_overlay_draws(scenes: SceneFile) -> None:
    geometry = scenes.geometry("gate")
    assert geometry["zones"][0]["name"] == "table"
    assert geometry["zones"][0]["polygon"][0] == [0.4, 0.7]
    assert geometry["zones"][0]["loitering_s"] == 60
    assert geometry["lines"][0]["a"] == [0.1, 0.5]
    assert scenes.geometry("unknown") == {"zones": [], "lines": []}


def test_every_camera_drawn_from_one_read_of_the_file(
    scenes: SceneFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    read_bytes, read_text = Path.read_bytes, Path.read_text
    monkeypatch.setattr(Path, "read_bytes", lambda p: reads.append("raw") or read_bytes(p))
    monkeypatch.setattr(
        Path, "read_text", lambda p, **kw: reads.append("checked") or read_text(p, **kw)
    )
    drawn = scenes.geometries()
    assert set(drawn) == {"gate", "other"}
    assert drawn["other"]["zones"][0]["name"] == "yard"
    assert sorted(reads) == ["checked", "raw"]  # not once per camera
    assert drawn["gate"] == scenes.geometry("gate")


def test_an_edit_keeps_every_other_key_and_camera(scenes: SceneFile) -> None:
    before = scenes.geometry("gate")
    table = {**before["zones"][0], "polygon": [[0.3, 0.6], [0.7, 0.6], [0.7, 1.0], [0.3, 1.0]]}
    new = {"name": "bench", "polygon": [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]], "intrusion": False,
           "classes": [], "loitering_s": 30}  # fmt: skip
    save(scenes, "gate", {"zones": [table, new], "lines": before["lines"]})
    raw = yaml.safe_load(scenes.path.read_text())  # type: ignore[union-attr]
    gate = raw["cameras"]["gate"]
    assert gate["timezone"] == "Europe/Paris"
    assert gate["zones"][0]["schedule"][0]["start"] == "22:00"  # untouched keys stay
    assert gate["zones"][0]["polygon"][0] == [0.3, 0.6]
    assert gate["zones"][1] == {"name": "bench", "polygon": [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]],
                                "intrusion": False, "classes": [],
                                "loitering": {"max_dwell_s": 30.0}}  # fmt: skip
    assert gate["lines"][0]["count_direction"] == "forward"
    assert "other" in raw["cameras"]
    assert set(load_scenes(scenes.path)) == {"gate", "other"}


def test_a_scene_the_checker_refuses_is_refused_whole_with_its_words(scenes: SceneFile) -> None:
    flat = {"zones": [{"name": "flat", "polygon": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}]}
    data, *_ = scenes.candidate("gate", flat)
    with pytest.raises(SceneRefused, match="polygon"):
        scenes.check(data)
    twice = {"zones": [{"name": "x", "polygon": [[0, 0], [1, 0], [1, 1]]}],
             "lines": [{"name": "x", "a": [0, 0], "b": [1, 1]}]}  # fmt: skip
    data, *_ = scenes.candidate("gate", twice)
    with pytest.raises(SceneRefused, match="names"):
        scenes.check(data)
    assert scenes.path.read_text() == SCENE  # type: ignore[union-attr]
    assert not list(scenes.path.parent.glob(".scene-*"))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "edited, words",
    [
        ({"zones": "all"}, "lists"),
        ({"zones": [{"name": "a", "polygon": [[0, "x"], [1, 0], [1, 1]]}]}, "numbers"),
        ({"zones": [{"name": "a", "polygon": [[0, float("nan")], [1, 0], [1, 1]]}]}, "finite"),
        ({"zones": [{"name": "a", "polygon": [[0, 0, 0], [1, 0], [1, 1]]}]}, r"\[x, y\]"),
        ({"zones": [{"name": "a", "polygon": [[0, 0]] * 65}]}, "at most"),
        ({"zones": [{"name": str(i), "polygon": [[0, 0], [1, 0], [1, 1]]} for i in range(65)]},
         "at most"),
        ({"zones": [{"name": "a", "polygon": [[0, 0], [1, 0], [1, 1]], "loitering_s": "x"}]},
         "seconds"),
    ],
)  # fmt: skip
def test_malformed_input_is_refused_before_the_checker(
    scenes: SceneFile, edited: dict[str, object], words: str
) -> None:
    with pytest.raises(SceneRefused, match=words):
        scenes.candidate("gate", edited)


def test_a_save_is_atomic_keeps_backups_and_refuses_a_file_changed_meanwhile(
    scenes: SceneFile,
) -> None:
    geometry = scenes.geometry("gate")
    data, current, zones, lines = scenes.candidate("gate", geometry)
    scenes.path.write_text(SCENE + "\n")  # type: ignore[union-attr]  # someone else saved
    with pytest.raises(SceneRefused, match="changed meanwhile"):
        scenes.write("gate", data, current, zones, lines)
    for _ in range(4):
        data, current, zones, lines = scenes.candidate("gate", geometry)
        saved = scenes.write("gate", data, current, zones, lines)
        assert saved.sha256 == hashlib.sha256(data).hexdigest()
    backups = list(scenes.path.parent.glob("scenes.yaml.2*"))  # type: ignore[union-attr]
    assert 1 <= len(backups) <= 2


def test_a_read_only_or_missing_scene_file_cannot_be_written(tmp_path: Path) -> None:
    read_only = SceneFile(tmp_path / "s.yaml", writable=False, backups=0)
    with pytest.raises(SceneRefused, match="read-only"):
        read_only.write("gate", b"cameras: {}\n", b"", 0, 0)
    with pytest.raises(SceneRefused, match="no scene file"):
        SceneFile(None, writable=True, backups=0).candidate("gate", {})
