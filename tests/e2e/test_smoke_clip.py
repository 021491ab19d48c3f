"""Smoke on a real clip through the whole pipeline: too short to decide, so no alert.

``events/smoke/smoke-1.mp4`` (12 fps, 37 frames, 3.1 s): the plume is in view from ~1.75 s to
the end, 1.25 s, and the fire analyser signals nothing shorter than ``min_evidence_s`` (2.4 s by
default; tests/integration/analytics/test_smoke_on_real_clip.py measures both). The camera's
policy enables the analyser with its smoke rule; the run must raise nothing, and the analyser's
log must show it saw the smoke and what it needed, so that the silence is a decision, not a
stage that never ran.
"""

from __future__ import annotations

import logging

import pytest

from tests.conftest import shared_data
from tests.e2e.clip_runs import run_clip
from vigie_analytics.pixels.fire import FireSettings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_smoke_seen_for_less_than_the_minimum_raises_nothing_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="vigie_analytics.pixels.fire"):
        run = run_clip(
            shared_data("events/smoke/smoke-1.mp4"),
            "smoke",
            "smoke.yaml",
            analytics="smoke-analytics.yaml",
        )
    assert run.events == ()
    assert run.dead_letters == 0
    seen = [
        r
        for r in caplog.records
        if r.name == "vigie_analytics.pixels.fire" and r.getMessage().startswith("smoke seen")
    ]
    assert seen, "the analyser never saw smoke: the pixel stage may not have run"
    needed = FireSettings().min_evidence_s
    assert all(r.camera == "smoke" for r in seen)  # type: ignore[attr-defined]
    assert seen[0].getMessage() == f"smoke seen: signalled only if it lasts {needed:.1f} s"
