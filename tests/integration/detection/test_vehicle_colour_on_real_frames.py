"""Vehicle colours on real frames: the parking-lot clip and the COCO street photos.

Every expected colour below was checked by eye on the frame itself (and on the crop the colour is
read from), not taken from what the code answered.

``intel-sample-videos/car-detection.mp4`` films a parking lot from straight above. yolov4-tiny
does not recognise cars seen from above (it calls them "cell phone" or "suitcase"), so the boxes
on its frames are placed by hand, as a detector would draw them, around the whole car.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.conftest import shared_data
from vigie_core.colours import Colour
from vigie_core.types import Box, Detection
from vigie_detection.adapters import DetectorConfig, build_detector
from vigie_detection.adapters.detector import Detector
from vigie_detection.service import DetectionService
from vigie_detection.settings import DetectionSettings
from vigie_detection.vehicle_colour import (
    VEHICLE_CLASSES,
    VehicleColours,
    central_region,
    dominant_colour,
)
from vigie_runtime.health import Health
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import GrpcSettings
from vigie_runtime.yamlconf import ConfigError

CAR_CLIP = "intel-sample-videos/car-detection.mp4"
LOCAL_GRPC = GrpcSettings(host="127.0.0.1", port=0, plaintext=True)
RED_CAR = Box(0.42, 0.355, 0.635, 1.0)  # frame 205, the right-hand car


def clip_frame(index: int) -> np.ndarray:
    """Frame ``index`` of the parking-lot clip, read in order (seeking is not exact in every
    build of the decoder)."""
    capture = cv2.VideoCapture(str(shared_data(CAR_CLIP)))
    try:
        for _ in range(index + 1):
            ok, image = capture.read()
            assert ok, f"the clip ends before frame {index}"
    finally:
        capture.release()
    return image


@pytest.mark.parametrize(
    ("index", "box", "expected", "why"),
    [
        (
            205,
            RED_CAR,
            Colour.RED,
            "the right-hand car is a red saloon; the centre of its box is red roof over the "
            "light grey of its rear window",
        ),
        (
            330,
            Box(0.18, 0.03, 0.41, 0.72),
            Colour.WHITE,
            "a white coupe; the centre of its box is white roof and bonnet around a sunroof and "
            "a windscreen that reflect the pale sky (light grey)",
        ),
    ],
)
def test_cars_in_the_parking_lot_clip(index: int, box: Box, expected: Colour, why: str) -> None:
    image = clip_frame(index)
    assert dominant_colour(central_region(image, box)) is expected, why


@pytest.fixture(scope="module")
def detector() -> Detector:
    return build_detector(DetectorConfig(classes=VEHICLE_CLASSES))


def vehicles(detector: Detector, photo: str) -> tuple[Detection, ...]:
    image = cv2.imread(str(shared_data(f"coco-street/{photo}.jpg")))
    return VehicleColours().annotate(image, detector.detect(image))


def nearest(found: tuple[Detection, ...], cls: str, x: float, y: float) -> Detection:
    """The detection of ``cls`` whose box centre is nearest (x, y)."""
    candidates = [d for d in found if d.class_name == cls]
    assert candidates, f"no {cls} detected"
    return min(candidates, key=lambda d: (d.box.centre[0] - x) ** 2 + (d.box.centre[1] - y) ** 2)


def test_the_yellow_taxi_behind_a_pedestrian(detector: Detector) -> None:
    # 373353: a New York street; a yellow cab in the middle of the road, a man in a dark jacket
    # and jeans walking across in front of it, covering the middle of its box. The yellow on
    # both sides of him is more than a fifth of the box's centre.
    taxi = nearest(vehicles(detector, "000000373353"), "car", 0.5, 0.83)
    assert taxi.colour == Colour.YELLOW


def test_the_green_bus(detector: Detector) -> None:
    # 334371: three buses in a row; the one on the left is painted green with a white and blue
    # livery panel.
    bus = nearest(vehicles(detector, "000000334371"), "bus", 0.1, 0.55)
    assert bus.colour == Colour.GREEN


def test_people_in_the_street_photos_get_no_colour(detector: Detector) -> None:
    image = cv2.imread(str(shared_data("coco-street/000000373353.jpg")))
    everything = build_detector(DetectorConfig(classes=VEHICLE_CLASSES | {"person"}))
    found = VehicleColours().annotate(image, everything.detect(image))
    people = [d for d in found if d.class_name == "person"]
    assert people and all(d.colour == "" for d in people)
    assert any(d.colour for d in found if d.class_name in VEHICLE_CLASSES)


def test_the_detection_service_colours_vehicles_as_configured() -> None:
    service = DetectionService(DetectionSettings(grpc=LOCAL_GRPC), InMemoryBus(), Health())
    image = clip_frame(205)
    (car,) = service.batching.handler.annotate(image, (Detection(RED_CAR, "car", 0.9),))
    assert car.colour == Colour.RED
    with pytest.raises(ConfigError, match=r"vehicle_colour\.classes: unknown class names"):
        DetectionService(
            DetectionSettings(
                vehicle_colour={"classes": ["motorcycle"]},  # type: ignore[arg-type]
                grpc=LOCAL_GRPC,
            ),
            InMemoryBus(),
            Health(),
        )
