"""Fire or smoke seen too briefly to be signalled is reported as undecided, never dropped in
silence; the documented minimum (``FireSettings.min_evidence_s``) is the persistence rule's."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pytest

from vigie_analytics.pixels.base import CameraImage
from vigie_analytics.pixels.evidence import SightingWatch
from vigie_analytics.pixels.fire import UNDECIDED, FireAnalyser, FireBox, FireSettings
from vigie_core.types import EventKind, FrameRef

FPS = 10.0
BLACK = np.zeros((90, 160, 3), np.uint8)
T0 = 1_700_000_000.0


class SmokeOn:
    """A plugged-in model that reports smoke over the whole frame on the frames listed."""

    def __init__(self, frames: set[int]) -> None:
        self.frames, self.calls = frames, 0

    def find(self, image_bgr: np.ndarray) -> Sequence[FireBox]:
        self.calls += 1
        return [FireBox((0, 0, 1, 1), 0.9, "smoke")] if self.calls - 1 in self.frames else []


def run(analyser: FireAnalyser, count: int) -> list[int]:
    """Frame numbers of the events raised over ``count`` frames at 10 fps."""
    raised = []
    for k in range(count):
        image = CameraImage(FrameRef("cam-1", k, T0 + k / FPS, 160, 90), BLACK)
        raised.extend(k for _ in analyser.analyse(image))
    return raised


def smoke_for(first: int, last: int, settings: FireSettings | None = None) -> FireAnalyser:
    settings = settings or FireSettings(enabled_cameras=["cam-1"])
    return FireAnalyser("cam-1", None, settings, SmokeOn(set(range(first, last + 1))))


def test_the_minimum_evidence_is_min_share_of_persist_s() -> None:
    assert FireSettings().min_evidence_s == pytest.approx(2.4)
    assert FireSettings(persist_s=5, min_share=0.6).min_evidence_s == pytest.approx(3.0)


def test_a_sighting_shorter_than_the_minimum_is_logged_as_too_short_to_decide(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Smoke on frames 40-62 (2.2 s from first to last), after 4 s without: below 2.4 s.
    analyser = smoke_for(40, 62)
    counted = UNDECIDED.labels("cam-1", "smoke")._value.get()
    with caplog.at_level(logging.INFO, logger="vigie_analytics.pixels.fire"):
        assert run(analyser, 120) == []
    assert UNDECIDED.labels("cam-1", "smoke")._value.get() == counted + 1  # for the dashboard
    (record,) = [r for r in caplog.records if "too briefly" in r.getMessage()]
    assert record.getMessage() == "smoke seen too briefly to decide"
    assert record.camera == "cam-1" and record.kind == "smoke"  # type: ignore[attr-defined]
    assert record.seen_s == pytest.approx(2.2)  # type: ignore[attr-defined]
    assert record.needed_s == pytest.approx(2.4)  # type: ignore[attr-defined]
    assert record.frames_on == 23  # type: ignore[attr-defined]
    assert record.first_seen == pytest.approx(T0 + 4.0)  # type: ignore[attr-defined]
    assert analyser.undecided() == ()  # it lapsed: nothing is under way any more


def test_a_sighting_reaching_the_minimum_is_signalled_and_not_reported_undecided(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Smoke from frame 40 on: 80% of the frames of the last 3 s once it has held 2.4 s.
    analyser = smoke_for(40, 200)
    with caplog.at_level(logging.INFO, logger="vigie_analytics.pixels.fire"):
        (raised,) = run(analyser, 120)
    assert (raised - 40) / FPS == pytest.approx(FireSettings().min_evidence_s)
    assert not [r for r in caplog.records if "too briefly" in r.getMessage()]
    assert analyser.undecided() == ()


def test_a_sighting_cut_short_by_the_end_of_the_stream_stays_undecided() -> None:
    # The stream ends 1.5 s after the smoke appears, as a short clip would.
    analyser = smoke_for(40, 200)
    assert run(analyser, 56) == []
    (sighting,) = analyser.undecided()
    assert sighting.kind is EventKind.SMOKE
    assert sighting.seen_s == pytest.approx(1.5)
    assert sighting.short_by_s == pytest.approx(0.9)
    assert (sighting.frames_on, sighting.frames) == (16, 16)


def test_gaps_the_persistence_rule_forgives_do_not_end_a_sighting() -> None:
    watch = SightingWatch(EventKind.FIRE, needed_s=2.4, max_gap_s=0.6)
    assert watch.update(0.0, True, signalled=False) is None
    assert watch.update(0.5, False, signalled=False) is None
    assert watch.update(0.6, True, signalled=False) is None  # 0.6 s without: forgiven
    current = watch.current
    assert current is not None and (current.frames_on, current.frames) == (2, 3)
    assert watch.update(1.15, False, signalled=False) is None  # 0.55 s since the last frame on
    lapsed = watch.update(1.25, False, signalled=False)  # 0.65 s: over 0.6 s, it lapses
    assert lapsed is not None and lapsed.seen_s == pytest.approx(0.6)
    assert watch.current is None
    assert watch.update(2.0, False, signalled=False) is None  # reported once only


def test_a_signalled_condition_ends_its_sighting_without_a_report() -> None:
    watch = SightingWatch(EventKind.FIRE, needed_s=2.4, max_gap_s=0.6)
    watch.update(0.0, True, signalled=False)
    assert watch.update(2.4, True, signalled=True) is None
    assert watch.current is None
    assert watch.update(5.0, False, signalled=True) is None
