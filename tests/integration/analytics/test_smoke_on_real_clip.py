"""Smoke on a real clip too short to decide on: no alert, and the analyser says why.

``events/smoke/smoke-1.mp4`` (RISE dataset, 180x180, 37 frames at 12 fps): a clear hillside
over an industrial plant; a white plume drifts in at the top left at about 1.75 s and covers
most of the upper third by the end, 3.0 s. Whatever sees the plume from its first frame has
1.25 s of evidence, less than ``FireSettings.min_evidence_s`` (2.4 s): the persistence rule
cannot signal it, by construction, and no threshold tuned on this clip should make it. What is
pinned here is that the analyser, smoke rule on, raises nothing on the clip (no fire either),
takes nothing for smoke before the plume, and leaves the plume as an undecided sighting shorter
than the minimum rather than passing over it in silence.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.conftest import shared_data
from tests.integration.analytics.test_fire_on_real_data import T0, clip_frames
from vigie_analytics.pixels.base import CameraImage
from vigie_analytics.pixels.fire import FireAnalyser, FireSettings
from vigie_core.types import EventKind, FrameRef

CLIP = "events/smoke/smoke-1.mp4"
# The plume, measured on the pixels and not by the analyser: the share of near-white pixels
# (grey > 170) in the upper third of the frame, below the strip of sky along the top edge (its
# first 6 rows). The clear hillside keeps it near 0.008 for the first 1.7 s; the plume takes it
# past 0.03 at 1.75 s and to 0.58 by the end.
SKY_ROWS = 6
PLUME_GREY = 170
PLUME_SHARE = 0.03


def plume_share(image: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    upper = grey[SKY_ROWS : image.shape[0] // 3]
    return float((upper > PLUME_GREY).mean())


@pytest.fixture(scope="module")
def frames() -> list[tuple[float, np.ndarray]]:
    return list(clip_frames(shared_data(CLIP)))


def test_the_plume_leaves_less_evidence_than_the_rule_needs(
    frames: list[tuple[float, np.ndarray]],
) -> None:
    shares = [plume_share(image) for _, image in frames]
    onset = next(k for k, share in enumerate(shares) if share >= PLUME_SHARE)
    assert all(share >= PLUME_SHARE for share in shares[onset:])  # in view to the end
    plume_from, clip_end = frames[onset][0], frames[-1][0]
    assert 1.6 <= plume_from <= 1.9 and clip_end == pytest.approx(3.0)
    assert clip_end - plume_from < FireSettings().min_evidence_s


def test_smoke_on_the_clip_is_left_undecided_not_raised(
    frames: list[tuple[float, np.ndarray]],
) -> None:
    analyser = FireAnalyser(
        "hillside", None, FireSettings(enabled_cameras=["hillside"], smoke=True), None
    )
    events = []
    for k, (t, image) in enumerate(frames):
        ref = FrameRef("hillside", k, T0 + t, image.shape[1], image.shape[0])
        events.extend(analyser.analyse(CameraImage(ref, image)))
    assert events == []
    # Nothing taken for fire; one smoke sighting under way when the clip ends, which began on
    # the plume (not on the clear hillside before it) and is shorter than the minimum.
    (sighting,) = analyser.undecided()
    assert sighting.kind is EventKind.SMOKE
    plume_from = next(t for t, image in frames if plume_share(image) >= PLUME_SHARE)
    assert sighting.first_seen - T0 >= plume_from
    assert sighting.last_seen - T0 == pytest.approx(frames[-1][0])
    assert 0 < sighting.seen_s < sighting.needed_s == pytest.approx(2.4)
