"""Vehicle colours on synthetic patches of known colour, and who gets one (vehicles, never people).

The real frames are in tests/integration/detection/test_vehicle_colour_on_real_frames.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from vigie_core.colours import COLOUR_NAMES, Colour
from vigie_core.types import Box, Detection
from vigie_detection.settings import DetectionSettings, VehicleColourSettings
from vigie_detection.vehicle_colour import (
    VEHICLE_CLASSES,
    VehicleColours,
    central_region,
    dominant_colour,
)

WHOLE = Box(0.0, 0.0, 1.0, 1.0)


def patch(hsv: tuple[int, int, int], size: tuple[int, int] = (40, 60)) -> np.ndarray:
    """A BGR image of one colour given in OpenCV's 8-bit HSV (hue 0-179)."""
    pixel = np.array([[hsv]], dtype=np.uint8)
    return np.tile(cv2.cvtColor(pixel, cv2.COLOR_HSV2BGR), (*size, 1))


def colour_of(image: np.ndarray, box: Box = WHOLE) -> Colour | None:
    return dominant_colour(central_region(image, box))


# --- one colour ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hsv", "expected"),
    [
        ((0, 0, 15), Colour.BLACK),
        ((110, 200, 45), Colour.BLACK),  # navy in deep shade: too dark for its hue to show
        ((0, 0, 245), Colour.WHITE),
        ((105, 30, 225), Colour.WHITE),  # white paint in blue shade: a tint, not blue
        ((0, 0, 128), Colour.GREY),
        ((20, 25, 160), Colour.GREY),  # a warm silver
        ((0, 0, 70), Colour.BLACK),  # dark grey reads black
        ((0, 220, 200), Colour.RED),
        ((176, 200, 180), Colour.RED),  # red wraps round the hue circle
        ((13, 230, 240), Colour.ORANGE),
        ((13, 200, 110), Colour.BROWN),  # a dark orange
        ((22, 230, 230), Colour.YELLOW),  # a taxi's yellow (about 44 degrees)
        ((28, 200, 220), Colour.YELLOW),
        ((60, 200, 160), Colour.GREEN),
        ((110, 200, 180), Colour.BLUE),
        ((145, 180, 160), Colour.PURPLE),
    ],
)
def test_a_patch_of_one_colour_is_named_by_it(hsv: tuple[int, int, int], expected: Colour) -> None:
    assert colour_of(patch(hsv)) is expected


def test_every_name_is_in_the_palette_the_archive_searches() -> None:
    assert {c.value for c in Colour} == COLOUR_NAMES
    assert len(COLOUR_NAMES) == 10


# --- mixtures -----------------------------------------------------------------------------------


def mixture(*parts: tuple[tuple[int, int, int], int]) -> np.ndarray:
    """Horizontal bands: (hsv, rows) each, 60 pixels wide; the central region of the whole image
    keeps rows in proportion, so the bands are sized to be measured in it."""
    return np.vstack([patch(hsv, (rows, 60)) for hsv, rows in parts])


GREY_GLASS = (100, 10, 110)
RED_PAINT = (0, 220, 200)
BLUE_PAINT = (110, 200, 180)


def test_a_hue_covering_a_fifth_of_the_centre_beats_glass_and_trim() -> None:
    # central region of 80 rows = rows 20-60: 28 grey, 12 red (30 %)
    image = mixture((GREY_GLASS, 48), (RED_PAINT, 32))
    assert colour_of(image) is Colour.RED


def test_a_hue_covering_less_than_a_fifth_does_not() -> None:
    # central region = rows 20-60: 34 grey, 6 blue (15 %)
    image = mixture((GREY_GLASS, 54), (BLUE_PAINT, 26))
    assert colour_of(image) is Colour.GREY


def test_without_a_hue_the_commonest_grey_level_wins() -> None:
    image = mixture(((0, 0, 20), 45), ((0, 0, 240), 35))  # centre: 25 black rows, 15 white
    assert colour_of(image) is Colour.BLACK


def test_the_edges_of_the_box_are_not_looked_at() -> None:
    # a blue car on red-brick paving: the box's outer quarter on every side is paving
    image = patch(RED_PAINT, (100, 160))
    image[30:70, 45:115] = patch(BLUE_PAINT, (40, 70))
    assert colour_of(image) is Colour.BLUE


def test_the_region_follows_the_box() -> None:
    image = patch(GREY_GLASS, (200, 200))
    image[100:200, 100:200] = patch(RED_PAINT, (100, 100))
    assert colour_of(image, Box(0.5, 0.5, 1.0, 1.0)) is Colour.RED
    assert colour_of(image, Box(0.0, 0.0, 0.5, 0.5)) is Colour.GREY


def test_a_box_of_a_few_pixels_is_not_named() -> None:
    image = patch(RED_PAINT, (100, 100))
    assert colour_of(image, Box(0.1, 0.1, 0.16, 0.16)) is None  # 6 pixels: a 3-pixel centre
    assert colour_of(image, Box(0.1, 0.1, 0.2, 0.2)) is Colour.RED
    assert colour_of(image, Box(1.0, 1.0, 1.0, 1.0)) is None  # a box on the frame's edge


def test_a_large_box_costs_what_a_small_one_does() -> None:
    # resampled to a few hundred pixels: same answer on a 1000-pixel bus as on its miniature
    image = mixture((GREY_GLASS, 600), (RED_PAINT, 400))
    small = cv2.resize(image, (30, 50), interpolation=cv2.INTER_AREA)
    assert colour_of(image) is colour_of(small) is Colour.RED


# --- who gets a colour --------------------------------------------------------------------------


def red_scene() -> tuple[np.ndarray, tuple[Detection, ...]]:
    image = patch(RED_PAINT, (100, 100))
    detections = (
        Detection(Box(0.1, 0.1, 0.5, 0.5), "car", 0.9),
        Detection(Box(0.5, 0.5, 0.9, 0.9), "person", 0.8),
        Detection(Box(0.2, 0.6, 0.4, 0.9), "truck", 0.7),
        Detection(Box(0.6, 0.1, 0.9, 0.3), "dog", 0.6),
        Detection(Box(0.1, 0.1, 0.13, 0.13), "car", 0.5),  # too small to say
    )
    return image, detections


def test_vehicles_are_coloured_and_nothing_else_is() -> None:
    image, detections = red_scene()
    coloured = VehicleColours().annotate(image, detections)
    assert [d.colour for d in coloured] == ["red", "", "red", "", ""]
    assert [(d.box, d.class_name, d.confidence) for d in coloured] == [
        (d.box, d.class_name, d.confidence) for d in detections
    ]


def test_no_classes_means_no_colours() -> None:
    image, detections = red_scene()
    assert VehicleColours(()).annotate(image, detections) == detections


def test_the_default_classes_are_the_coco_vehicles_as_the_default_model_names_them() -> None:
    assert {"bicycle", "car", "motorbike", "bus", "truck"} == VEHICLE_CLASSES
    assert sorted(VehicleColourSettings().classes) == sorted(VEHICLE_CLASSES)
    assert DetectionSettings().vehicle_colour.classes == sorted(VEHICLE_CLASSES)


def test_people_can_never_be_given_a_colour() -> None:
    with pytest.raises(ValueError, match=r"\['person'\] cannot be given a colour"):
        VehicleColours(["car", "person"])
    with pytest.raises(ValidationError, match="cannot be given a colour"):
        VehicleColourSettings(classes=["person"])


def test_a_class_the_model_does_not_know_is_refused() -> None:
    known = ("person", "car", "motorbike")
    assert VehicleColours(["car", "motorbike"], known).classes == {"car", "motorbike"}
    with pytest.raises(ValueError, match=r"unknown class names \['motorcycle'\]"):
        VehicleColours(["car", "motorcycle"], known)
