"""Hot reload of the scene file: applied when valid, refused (old scenes kept) when not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vigie_analytics.handler import AnalyticsHandler
from vigie_analytics.scene_watch import Scenes, SceneWatch

ZONE = """cameras:
  cam-1:
    zones:
      - name: {name}
        polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]
  cam-2:
    zones:
      - name: gate
        polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_watch(path: Path) -> tuple[SceneWatch, list[tuple[Scenes, Scenes]], Clock]:
    applied: list[tuple[Scenes, Scenes]] = []
    clock = Clock()
    watch = SceneWatch(path, lambda old, new: applied.append((old, new)), 2.0, clock)
    return watch, applied, clock


def test_a_valid_change_is_applied_after_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "scenes.yaml"
    path.write_text(ZONE.format(name="hall"))
    watch, applied, clock = make_watch(path)
    path.write_text(ZONE.format(name="platform"))

    assert watch.poll() is False  # not yet time to look
    clock.now = 2.0
    assert watch.poll() is True

    assert [z.name for z in watch.scenes["cam-1"].zones] == ["platform"]
    ((old, new),) = applied
    assert [z.name for z in old["cam-1"].zones] == ["hall"]
    assert new["cam-2"] == old["cam-2"]


def test_an_unchanged_file_is_not_reapplied(tmp_path: Path) -> None:
    path = tmp_path / "scenes.yaml"
    path.write_text(ZONE.format(name="hall"))
    watch, applied, clock = make_watch(path)
    path.write_text(ZONE.format(name="hall"))  # rewritten, same bytes
    clock.now = 5.0
    assert watch.poll() is False
    assert applied == []


def test_an_invalid_change_is_refused_with_its_line_and_the_old_scenes_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "scenes.yaml"
    path.write_text(ZONE.format(name="hall"))
    watch, applied, clock = make_watch(path)
    path.write_text(
        ZONE.format(name="hall").replace("[0.9, 0.9]]", "[0.9, 0.9]]\n        bogus: 1")
    )
    clock.now = 2.0
    with caplog.at_level(logging.ERROR):
        assert watch.poll() is False
    assert applied == []
    assert [z.name for z in watch.scenes["cam-1"].zones] == ["hall"]
    assert f"{path}:6: cameras.cam-1.zones.0.bogus" in caplog.text


def test_the_handler_renews_only_the_analysers_of_changed_cameras(tmp_path: Path) -> None:
    path = tmp_path / "scenes.yaml"
    path.write_text(ZONE.format(name="hall"))
    watch, _, clock = make_watch(path)
    handler = AnalyticsHandler(watch.scenes)
    before = dict(handler.analyzers)
    path.write_text(ZONE.format(name="platform"))
    clock.now = 2.0
    old = watch.scenes
    assert watch.poll()
    handler.replace_scenes(old, watch.scenes)

    assert handler.analyzers["cam-2"] is before["cam-2"]
    assert handler.analyzers["cam-1"] is not before["cam-1"]
    assert [z.name for z in handler.analyzers["cam-1"].scene.zones] == ["platform"]
