"""Unit tests of zone and line geometry (normalised coordinates, y pointing down)."""

from __future__ import annotations

import math

import pytest

from vigie_core.geometry import Line, Polygon, segments_intersect

SQUARE = Polygon.of([(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)])
# A "U" opening upwards: the notch between its arms is outside.
U_SHAPE = Polygon.of(
    [(0.1, 0.1), (0.3, 0.1), (0.3, 0.6), (0.7, 0.6), (0.7, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]
)
HORIZONTAL = Line((0.2, 0.5), (0.8, 0.5))  # drawn left to right: its left is up the image


# --- polygon ------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", [(0.5, 0.5), (0.21, 0.79), (0.79, 0.21)])
def test_points_inside_a_square_are_inside(point: tuple[float, float]) -> None:
    assert SQUARE.contains(point)


@pytest.mark.parametrize("point", [(0.1, 0.5), (0.9, 0.5), (0.5, 0.1), (0.5, 0.95), (0.0, 0.0)])
def test_points_outside_a_square_are_outside(point: tuple[float, float]) -> None:
    assert not SQUARE.contains(point)


@pytest.mark.parametrize("point", [(0.2, 0.5), (0.5, 0.8), (0.8, 0.8)])
def test_points_on_the_outline_count_as_inside(point: tuple[float, float]) -> None:
    assert SQUARE.contains(point)


def test_a_zone_along_the_frame_border_holds_anchors_clipped_to_it() -> None:
    zone = Polygon.of([(0.4, 0.6), (0.7, 0.6), (0.7, 1.0), (0.4, 1.0)])
    assert zone.contains((0.55, 1.0))
    assert not zone.contains((0.8, 1.0))


def test_concave_polygon_excludes_its_notch() -> None:
    assert not U_SHAPE.contains((0.5, 0.3))  # in the notch, inside the bounding box
    assert U_SHAPE.contains((0.2, 0.3))  # left arm
    assert U_SHAPE.contains((0.8, 0.3))  # right arm
    assert U_SHAPE.contains((0.5, 0.75))  # base


def test_point_order_does_not_matter() -> None:
    reversed_u = Polygon(tuple(reversed(U_SHAPE.points)))
    for point in [(0.5, 0.3), (0.2, 0.3), (0.5, 0.75), (0.95, 0.5)]:
        assert reversed_u.contains(point) == U_SHAPE.contains(point)


def test_area_is_the_enclosed_area() -> None:
    assert math.isclose(SQUARE.area, 0.36)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([(0.1, 0.1), (0.5, 0.5)], "at least 3 points"),
        ([(0.1, 0.1), (1.2, 0.1), (0.5, 0.5)], "outside the frame"),
        ([(0.1, -0.1), (0.9, 0.1), (0.5, 0.5)], "outside the frame"),
        ([(0.1, 0.1), (float("nan"), 0.1), (0.5, 0.5)], "not a finite number"),
        ([(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], "no area"),
        ([(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)], "cross each other"),
    ],
)
def test_invalid_polygons_are_refused_with_the_reason(
    points: list[tuple[float, float]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Polygon.of(points)


# --- line ---------------------------------------------------------------------------------------


def test_side_is_positive_on_the_left_of_a_to_b_as_seen_on_screen() -> None:
    assert HORIZONTAL.side((0.5, 0.3)) > 0  # above a left-to-right line
    assert HORIZONTAL.side((0.5, 0.7)) < 0
    assert HORIZONTAL.side((0.5, 0.5)) == 0
    downward = Line((0.5, 0.2), (0.5, 0.8))  # pointing down the image: left is the image's right
    assert downward.side((0.7, 0.5)) > 0
    assert downward.side((0.3, 0.5)) < 0


def test_side_is_a_distance_in_normalised_units() -> None:
    assert math.isclose(HORIZONTAL.side((0.5, 0.4)), 0.1)
    diagonal = Line((0.0, 0.0), (1.0, 1.0))
    assert math.isclose(abs(diagonal.side((0.0, 1.0))), math.sqrt(0.5))


def test_crossing_the_segment_is_crossed() -> None:
    assert HORIZONTAL.crossed((0.5, 0.6), (0.5, 0.4))
    assert HORIZONTAL.crossed((0.3, 0.4), (0.7, 0.6))


def test_crossing_the_infinite_line_beside_the_segment_is_not_crossed() -> None:
    # Changes sides (the infinite line y = 0.5 is crossed at x = 0.9), misses the segment.
    assert HORIZONTAL.side((0.9, 0.6)) < 0 < HORIZONTAL.side((0.9, 0.4))
    assert not HORIZONTAL.crossed((0.9, 0.6), (0.9, 0.4))


def test_a_step_that_stays_on_one_side_is_not_crossed() -> None:
    assert not HORIZONTAL.crossed((0.3, 0.6), (0.7, 0.7))


def test_touching_the_segment_counts_as_meeting_it() -> None:
    assert HORIZONTAL.crossed((0.5, 0.6), (0.5, 0.5))
    assert HORIZONTAL.crossed((0.5, 0.5), (0.5, 0.4))
    assert HORIZONTAL.crossed((0.8, 0.6), (0.8, 0.4))  # through the end point


def test_collinear_segments_meet_only_if_they_overlap() -> None:
    assert segments_intersect((0.1, 0.5), (0.3, 0.5), (0.2, 0.5), (0.8, 0.5))
    assert not segments_intersect((0.0, 0.5), (0.1, 0.5), (0.2, 0.5), (0.8, 0.5))


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ((0.5, 0.5), (0.5, 0.5), "no length"),
        ((0.5, 0.5), (1.5, 0.5), "outside the frame"),
        ((float("inf"), 0.5), (0.5, 0.5), "not a finite number"),
    ],
)
def test_invalid_lines_are_refused_with_the_reason(
    a: tuple[float, float], b: tuple[float, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Line(a, b)
