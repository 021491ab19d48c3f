"""Unit tests of a track's colour: the majority of the colours named on its detections."""

from __future__ import annotations

import copy
import json
import random

import pytest

from tests.unit.core.test_tracking_snapshot import assert_resumes_identically
from vigie_core.tracking import CameraTracker, TrackerParams
from vigie_core.types import Box, Detection, FrameDetections, FrameRef, TrackSummary

CAMERA = "cam-1"
T0 = 1_700_000_000.0
PARAMS = TrackerParams(min_hits=3, lost_buffer_s=1.0)


def det(x: float, colour: str = "", cls: str = "car") -> Detection:
    return Detection(Box(x, 0.4, x + 0.1, 0.5), cls, 0.9, colour)


def frames_of(colours: list[str], cls: str = "car") -> list[FrameDetections]:
    """One object driving right, its detections named the given colours in turn."""
    return [
        FrameDetections(FrameRef(CAMERA, i, T0 + 0.1 * i), (det(0.1 + 0.01 * i, c, cls),))
        for i, c in enumerate(colours)
    ]


def summary_of(colours: list[str], cls: str = "car") -> TrackSummary:
    tracker = CameraTracker(CAMERA, PARAMS)
    for f in frames_of(colours, cls):
        tracker.update(f)
    (summary,) = tracker.flush()
    return summary


def test_the_colour_most_detections_were_named_wins() -> None:
    # in shade or against the light a red car is sometimes named black or grey, or not at all
    colours = ["red", "grey", "red", "", "black", "red", "red", "", "grey", "red"]
    assert summary_of(colours).colour == "red"


def test_detections_without_a_colour_do_not_vote() -> None:
    assert summary_of(["", "", "", "blue", "", "", ""]).colour == "blue"


def test_a_tie_goes_to_the_colour_named_first() -> None:
    assert summary_of(["white", "grey", "grey", "white"]).colour == "white"
    assert summary_of(["grey", "white", "white", "grey"]).colour == "grey"


def test_a_track_never_named_a_colour_has_none() -> None:
    assert summary_of(["", "", "", ""]).colour == ""


def test_a_person_never_gets_a_colour_even_if_a_detector_sends_one() -> None:
    summary = summary_of(["red"] * 6, cls="person")
    assert (summary.class_name, summary.colour) == ("person", "")


def coloured_scene(seed: int, n_frames: int = 120) -> list[FrameDetections]:
    """Three cars crossing with noisy colours, one gap long enough to end a track."""
    rng = random.Random(seed)
    frames = []
    for i in range(n_frames):
        found = []
        for lane, (paint, other) in enumerate([("red", "grey"), ("white", "grey"), ("blue", "")]):
            if lane == 1 and 50 <= i < 70:
                continue
            colour = rng.choice([paint, paint, paint, other, ""])
            found.append(
                Detection(
                    Box(0.05 + 0.005 * i, 0.2 + 0.25 * lane, 0.15 + 0.005 * i, 0.35 + 0.25 * lane),
                    "car",
                    rng.uniform(0.85, 1.0),
                    colour,
                )
            )
        rng.shuffle(found)
        frames.append(FrameDetections(FrameRef(CAMERA, i, T0 + 0.1 * i), tuple(found)))
    return frames


@pytest.mark.parametrize("seed", [0, 1])
def test_colour_votes_survive_a_snapshot(seed: int) -> None:
    frames = coloured_scene(seed)
    outputs = assert_resumes_identically(frames, [0, 2, 3, 30, 55, 80, 118], PARAMS)
    ended = [s for out in outputs for s in out.ended]
    assert {s.colour for s in ended} >= {"white"}  # the car that was hidden for 2 s


def test_a_track_restored_without_colour_votes_votes_afresh() -> None:
    frames = frames_of(["red"] * 10 + ["grey"] * 4)
    tracker = CameraTracker(CAMERA, PARAMS)
    for f in frames[:10]:
        tracker.update(f)
    snapshot = copy.deepcopy(tracker.snapshot())
    del snapshot["tracks"][0]["colour_votes"]
    resumed = CameraTracker.restore(snapshot, PARAMS)
    for f in frames[10:]:
        resumed.update(f)
    (summary,) = resumed.flush()
    assert summary.colour == "grey"  # the ten red votes went with the older snapshot


@pytest.mark.parametrize(
    ("votes", "message"),
    [
        ([["red", 0]], r"colour_votes\[0\]\[1\]: expected an integer >= 1"),
        ([["red", 1], ["red", 2]], r"colour 'red' listed twice"),
        ([["red"]], r"expected \[colour, count\]"),
        ([["red", 99]], "99 votes for 5 hits"),
        ({"red": 1}, r"colour_votes: expected a list"),
    ],
)
def test_unusable_colour_votes_are_refused(votes: object, message: str) -> None:
    tracker = CameraTracker(CAMERA, PARAMS)
    for f in frames_of(["red"] * 5):
        tracker.update(f)
    snapshot = json.loads(json.dumps(tracker.snapshot()))
    assert snapshot["tracks"][0]["colour_votes"] == [["red", 5]]
    snapshot["tracks"][0]["colour_votes"] = votes
    with pytest.raises(ValueError, match=message):
        CameraTracker.restore(snapshot, PARAMS)
