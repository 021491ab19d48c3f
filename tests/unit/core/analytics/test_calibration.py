"""Ground calibration: a homography from four image points to four ground points (metres)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from vigie_core.analytics.motion import Motion
from vigie_core.calibration import GroundPlane
from vigie_core.geometry import Polygon
from vigie_core.rules import CrowdSpec
from vigie_core.scene import ZoneSpec
from vigie_core.types import EventKind, Track

from .scenes import FLOOR, Clip, analyser, offset, run, scene, track, zone

# A 6 m x 20 m strip of floor seen in perspective: its far end (top of the image) looks narrow.
STRIP_IMAGE = [(0.3, 0.5), (0.7, 0.5), (0.9, 0.9), (0.1, 0.9)]
STRIP_GROUND = [(0.0, 20.0), (6.0, 20.0), (6.0, 0.0), (0.0, 0.0)]
STRIP = GroundPlane.of(STRIP_IMAGE, STRIP_GROUND)

# Seen from straight above: 20 m per frame width, 10 m per frame height.
OVERHEAD = GroundPlane.of([(0, 0), (1, 0), (1, 1), (0, 1)], [(0, 0), (20, 0), (20, 10), (0, 10)])


def close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return math.isclose(a[0], b[0], abs_tol=1e-9) and math.isclose(a[1], b[1], abs_tol=1e-9)


def test_the_four_points_map_exactly() -> None:
    for image, ground in zip(STRIP_IMAGE, STRIP_GROUND, strict=True):
        assert close(STRIP.to_ground(image), ground), (image, STRIP.to_ground(image))


def test_perspective_is_undone() -> None:
    # The diagonals of the strip cross, on the ground, at its centre (3 m, 10 m); in the image
    # that point is well above the middle height 0.7 (the far half looks shorter).
    (x1, y1), (x2, y2) = STRIP_IMAGE[0], STRIP_IMAGE[2]
    (x3, y3), (x4, y4) = STRIP_IMAGE[1], STRIP_IMAGE[3]
    d = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4)
    a, b = x1 * y2 - y1 * x2, x3 * y4 - y3 * x4
    crossing = ((a * (x3 - x4) - (x1 - x2) * b) / d, (a * (y3 - y4) - (y1 - y2) * b) / d)
    assert crossing[1] < 0.7
    assert close(STRIP.to_ground(crossing), (3.0, 10.0))
    # Its near and far edges are both 6 m wide, though one is twice the other on screen.
    assert math.isclose(STRIP.distance_m((0.1, 0.9), (0.9, 0.9)), 6.0)
    assert math.isclose(STRIP.distance_m((0.3, 0.5), (0.7, 0.5)), 6.0)


def test_area_of_a_known_rectangle() -> None:
    assert math.isclose(STRIP.area_m2(Polygon.of(STRIP_IMAGE)), 120.0)
    inner = Polygon.of([(0.2, 0.2), (0.6, 0.2), (0.6, 0.8), (0.2, 0.8)])
    assert math.isclose(OVERHEAD.area_m2(inner), 8.0 * 6.0)
    triangle = Polygon.of([(0.0, 0.0), (0.5, 0.0), (0.0, 1.0)])
    assert math.isclose(OVERHEAD.area_m2(triangle), 10.0 * 10.0 / 2)


def test_speed_in_metres_per_second() -> None:
    motion = Motion()
    for i in range(11):
        motion.add(i * 0.1, (0.1 + 0.01 * i, 0.5))  # 0.1 of the width in 1 s: 2 m on the ground
    assert math.isclose(motion.speed(1.0), 0.1)
    assert math.isclose(motion.speed(1.0, OVERHEAD), 2.0)


def test_the_calibration_measures_a_zone_over_its_declared_area() -> None:
    declared = ZoneSpec("floor", FLOOR, area_m2=10.0)
    assert scene(declared).zone_area_m2(declared) == 10.0
    assert math.isclose(scene(declared, ground=OVERHEAD).zone_area_m2(declared), 12.0 * 5.5)
    assert scene(ZoneSpec("floor", FLOOR)).zone_area_m2(ZoneSpec("floor", FLOOR)) is None


def test_crowd_density_per_square_metre_on_a_calibrated_floor() -> None:
    # FLOOR is 12 m x 5.5 m = 66 m² overhead; 4 people are 0.061 per m², over 0.05.
    crowd = CrowdSpec(max_density_per_m2=0.05, movement=False)
    spots = [(0.3, 0.6), (0.4, 0.6), (0.5, 0.6), (0.6, 0.6)]

    def people(n: int) -> Callable[[float], list[Track]]:
        return lambda t: [track(f"p{i}", spots[i]) for i in range(n)]

    events = run(analyser(zone(crowd=crowd), ground=OVERHEAD), Clip().span(0, 10, people(4)))
    assert [(e.kind, offset(e)) for e in events] == [(EventKind.CROWD_DENSITY, 5.0)]
    details = events[0].details
    assert (details["area_m2"], details["people_per_m2"], details["max_people_per_m2"]) == (
        "66.000",
        "0.061",
        "0.050",
    )
    assert run(analyser(zone(crowd=crowd), ground=OVERHEAD), Clip().span(0, 10, people(3))) == []


def test_all_four_points_on_one_line_are_refused() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        GroundPlane.of([(0.1, 0.5), (0.3, 0.5), (0.6, 0.5), (0.9, 0.5)], STRIP_GROUND)


SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]


@pytest.mark.parametrize(
    ("image", "ground"),
    [
        ([(0.1, 0.1), (0.5, 0.5), (0.9, 0.9), (0.1, 0.9)], SQUARE),  # three image points
        ([(0.1, 0.5), (0.5, 0.5), (0.9, 0.5), (0.5, 0.9)], SQUARE),
        ([(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)], [(0, 0), (5, 0), (10, 0), (0, 10)]),
        ([(0.1, 0.1), (0.1, 0.1), (0.9, 0.9), (0.1, 0.9)], SQUARE),  # a point twice
        ([(0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (0.0, 1.0)], SQUARE),
    ],
    ids=["image-diagonal", "image-row", "ground-row", "image-twice", "image-through-origin"],
)
def test_three_points_on_one_line_are_refused(
    image: list[tuple[float, float]], ground: list[tuple[float, float]]
) -> None:
    with pytest.raises(ValueError, match="degenerate"):
        GroundPlane.of(image, ground)


@pytest.mark.parametrize(
    ("image", "ground", "message"),
    [
        (STRIP_IMAGE[:3], STRIP_GROUND[:3], "exactly four"),
        (STRIP_IMAGE, [*STRIP_GROUND, (1.0, 1.0)], "exactly four"),
        ([(1.2, 0.5), *STRIP_IMAGE[1:]], STRIP_GROUND, "outside the frame"),
        (STRIP_IMAGE, [(math.nan, 0.0), *STRIP_GROUND[1:]], "finite"),
        (STRIP_IMAGE, [(math.inf, 0.0), *STRIP_GROUND[1:]], "finite"),
    ],
)
def test_bad_points_are_refused(
    image: list[tuple[float, float]], ground: list[tuple[float, float]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        GroundPlane.of(image, ground)
