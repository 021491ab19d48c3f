"""The persistence rule of frame-based detectors: enough of the last seconds, once, re-armed."""

from __future__ import annotations

import pytest

from vigie_core.persistence import Persistence, PersistenceSpec


def feed(rule: Persistence, verdicts: list[tuple[float, bool]]) -> list[float]:
    return [t for t, on in verdicts if rule.update(t, on) is not None]


def steady(start: float, end: float, on: bool, fps: float = 10.0) -> list[tuple[float, bool]]:
    return [(start + k / fps, on) for k in range(round((end - start) * fps))]


def test_raised_once_when_the_condition_has_held_for_persist_s() -> None:
    rule = Persistence(PersistenceSpec(persist_s=3.0, min_share=0.8, clear_s=10.0))
    raised = feed(rule, steady(0, 1, False) + steady(1, 20, True))
    # 1 s off, then on: at 3.4 s the last 3 s hold 6 frames off and 25 on, 81% >= 80%.
    assert raised == [pytest.approx(3.4)]


def test_short_blips_are_ignored() -> None:
    rule = Persistence(PersistenceSpec(persist_s=3.0))
    verdicts = []
    for k in range(10):  # 1 s on, 1 s off, ten times: never 80% of any 3 s
        verdicts += steady(2 * k, 2 * k + 1, True) + steady(2 * k + 1, 2 * k + 2, False)
    assert feed(rule, verdicts) == []


def test_a_short_gap_is_tolerated_by_the_share() -> None:
    rule = Persistence(PersistenceSpec(persist_s=3.0, min_share=0.8))
    verdicts = steady(0, 1.5, True) + steady(1.5, 1.8, False) + steady(1.8, 10, True)
    assert feed(rule, verdicts) == [pytest.approx(2.9)]


def test_re_armed_only_after_clear_s_off() -> None:
    rule = Persistence(PersistenceSpec(persist_s=2.0, clear_s=5.0))
    first = steady(0, 4, True) + steady(4, 8, False) + steady(8, 12, True)  # off 4 s < 5 s
    assert feed(rule, first) == [pytest.approx(1.9)]
    # Off from 12 s: re-armed at 17 s; at 19.6 s the last 2 s hold 4 frames off, 17 on (81%).
    again = steady(12, 18, False) + steady(18, 22, True)
    assert feed(rule, again) == [pytest.approx(19.6)]


def test_irregular_frame_times_count_by_time_not_frames() -> None:
    rule = Persistence(PersistenceSpec(persist_s=3.0, min_share=0.8))
    times = [0.0, 0.1, 0.15, 1.4, 1.45, 2.9, 3.0, 3.05]  # dropped frames between
    assert feed(rule, [(t, True) for t in times]) == [2.9]


def test_nothing_before_the_window_is_covered() -> None:
    rule = Persistence(PersistenceSpec(persist_s=3.0))
    assert feed(rule, steady(0, 2.5, True)) == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"persist_s": 0}, "persist_s"),
        ({"min_share": 1.5}, "min_share"),
        ({"clear_s": -1}, "clear_s"),
    ],
)
def test_bad_parameters_are_refused_by_name(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        PersistenceSpec(**kwargs)
