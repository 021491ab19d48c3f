"""The face search redaction relies on (``FaceFinder.find_everywhere``), on real frames.

Small faces are the ones a single 300x300 pass misses and the reason the search tiles the frame
(``make bench-faces`` measures the cheaper single scaled pass against it: it missed faces the
tiles find, so redaction keeps the tiles). The faces below are labelled by eye for these tests:
``face-demographics-walking.gif`` (Intel sample GIF, 480x270, ../shared/data) shows a woman and
a man walking towards the camera down a corridor; on frames 10 and 15 their faces are 14 to 22
px wide. The empty frame is frame 300 of ``bottle-detection.mp4``: two bottles on a table, a
grey wall, nobody.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigie_runtime.faces import FaceFinder
from vigie_storage.snapshots import SnapshotSettings

DATA = Path(__file__).parents[3] / ".." / "shared" / "data" / "intel-sample-videos"
WALKING = DATA / "face-demographics-walking.gif"
BOTTLES = DATA / "bottle-detection.mp4"

Box = tuple[int, int, int, int]

# Frame index -> faces (x, y, w, h) labelled by eye on the 480x270 frame.
SMALL_FACES: dict[int, list[Box]] = {
    10: [(239, 118, 14, 20)],  # the woman (the man's face, turned down, is found by no pass)
    15: [(226, 120, 15, 19), (298, 96, 20, 25)],  # the woman, the man
}


def frame(path: Path, index: int) -> np.ndarray:
    if not path.is_file():
        pytest.skip(f"the shared test data is not here ({path})")
    capture = cv2.VideoCapture(str(path))
    try:
        for _ in range(index):
            capture.grab()
        ok, image = capture.read()
    finally:
        capture.release()
    assert ok, f"{path} has no frame {index}"
    return image


def covered(face: Box, found: list[Box]) -> bool:
    """A found box covers most of the labelled face (redaction blurs a margin around it)."""
    x, y, w, h = face
    for fx, fy, fw, fh in found:
        inter = max(0, min(x + w, fx + fw) - max(x, fx)) * max(0, min(y + h, fy + fh) - max(y, fy))
        if inter >= 0.7 * w * h or inter / (w * h + fw * fh - inter) >= 0.3:
            return True
    return False


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    # As the storage service makes it.
    return FaceFinder(min_size_px=12, min_confidence=SnapshotSettings().face_confidence)


@pytest.mark.parametrize("index", sorted(SMALL_FACES))
def test_the_tiled_search_finds_small_faces_a_single_pass_misses(
    finder: FaceFinder, index: int
) -> None:
    image = frame(WALKING, index)
    everywhere = finder.find_everywhere(image)
    for face in SMALL_FACES[index]:
        assert covered(face, everywhere), (index, face, everywhere)
        # The plain pass does not see it: without the tiles this face would be published.
        assert not covered(face, finder.find(image)), (index, face)


def test_a_frame_without_people_yields_no_face(finder: FaceFinder) -> None:
    assert finder.find_everywhere(frame(BOTTLES, 300)) == []
