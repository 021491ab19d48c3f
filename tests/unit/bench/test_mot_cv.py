"""The cross-validation protocol of ``bench.mot_cv`` on hand-made counts: no shared data."""

from __future__ import annotations

import dataclasses

import pytest

from bench.mot_cv import FOLDS, Counts, cross_validate, grid, objective, pooled
from vigie_core.tracking import TrackerParams

A, B = FOLDS


def _counts(mota: float, idf1: float, objects: int = 1000) -> Counts:
    """Counts with the given MOTA and IDF1 (misses only; as many predictions as objects)."""
    return Counts(
        objects=objects,
        predictions=objects,
        idtp=round(idf1 * objects),
        misses=round((1.0 - mota) * objects),
    )


def test_pooled_counts_give_the_overall_figures_of_summed_events() -> None:
    a = Counts(objects=10, predictions=8, idtp=6, misses=3, false_positives=1, switches=1)
    b = Counts(objects=30, predictions=32, idtp=24, misses=5, false_positives=4, switches=0)
    both = pooled({"a": a, "b": b}, ["a", "b"])
    assert both.mota == 1.0 - (3 + 1 + 1 + 5 + 4) / 40
    assert both.idf1 == 2 * 30 / (40 + 40)
    assert objective(both) == (both.mota + both.idf1) / 2


def test_each_half_is_scored_with_the_setting_chosen_on_the_other() -> None:
    settings = [TrackerParams(match_iou=0.2), TrackerParams(match_iou=0.4)]
    # Setting 0 is best on half A, setting 1 on half B.
    good, poor = _counts(0.6, 0.6), _counts(0.2, 0.2)
    counts = [
        {**dict.fromkeys(A, good), **dict.fromkeys(B, poor)},
        {**dict.fromkeys(A, poor), **dict.fromkeys(B, good)},
    ]
    protocol = cross_validate("test", settings, counts, range(2))
    chosen_on_a, chosen_on_b = protocol.folds
    assert chosen_on_a.params == settings[0] and chosen_on_a.held_out == B
    assert chosen_on_b.params == settings[1] and chosen_on_b.held_out == A
    # In-sample looks good, held out is poor: the cross-validated figure is the held-out one.
    assert chosen_on_a.train.mota == pytest.approx(0.6) == chosen_on_b.train.mota
    assert protocol.held_out.mota == pytest.approx(0.2) == protocol.held_out.idf1
    assert protocol.held_out == chosen_on_a.test + chosen_on_b.test


def test_a_tie_goes_to_the_first_setting_and_candidates_restrict_the_choice() -> None:
    settings = [TrackerParams(match_iou=v) for v in (0.2, 0.3, 0.4)]
    same = _counts(0.5, 0.5)
    counts = [dict.fromkeys(A + B, same) for _ in settings]
    assert cross_validate("test", settings, counts, range(3)).full_choice == settings[0]
    assert cross_validate("test", settings, counts, [2, 1]).full_choice == settings[1]


def test_the_grid_keeps_other_fields_and_includes_the_base_confidences() -> None:
    base = TrackerParams(min_hits=2, high_confidence=0.65, birth_confidence=0.75)
    settings = grid(base)
    assert all(s.min_hits == 2 for s in settings)
    assert any((s.high_confidence, s.birth_confidence) == (0.65, 0.75) for s in settings)
    assert len(set(settings)) == len(settings)
    # Every setting is valid, and differs from the base only in the grid's fields.
    tuned = {"high_confidence", "birth_confidence", "low_confidence"}
    tuned |= {"match_iou", "second_match_iou", "lost_buffer_s"}
    for s in settings:
        for f in dataclasses.fields(s):
            if f.name not in tuned:
                assert getattr(s, f.name) == getattr(base, f.name)
