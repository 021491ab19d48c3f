"""Plane geometry for scene rules, in normalised image coordinates (0..1, origin top-left, y down).

Zones and lines are drawn by people on a still of the camera, so every shape is validated when it
is built: a rule that silently never fires because a polygon folds over itself or a line has no
length is worse than a configuration error. Distances are measured in normalised units, so they
stretch with the frame's aspect ratio; thresholds expressed in them mean the same at any
resolution a camera streams at.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Point = tuple[float, float]

# Points closer than this to an edge count as on it. Anchors of boxes clipped to the frame sit
# exactly on a zone edge drawn along the frame border, and float noise must not decide for them.
_EPS = 1e-9


def check_point(point: Sequence[float], what: str) -> Point:
    """Reject points a person could not have drawn on the frame (outside it, NaN, infinite)."""
    if len(point) != 2:
        raise ValueError(f"{what} must be an (x, y) pair, got {point!r}")
    x, y = float(point[0]), float(point[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"{what} ({x}, {y}) is not a finite number")
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(
            f"{what} ({x}, {y}) is outside the frame: coordinates are normalised to [0, 1]"
        )
    return (x, y)


def _cross(o: Point, a: Point, b: Point) -> float:
    """z of (a - o) x (b - o): >0 when o->a->b turns clockwise on screen (y points down)."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _within_box(p: Point, a: Point, b: Point) -> bool:
    """For a point already known to be collinear with a-b: does it lie between them?"""
    return (
        min(a[0], b[0]) - _EPS <= p[0] <= max(a[0], b[0]) + _EPS
        and min(a[1], b[1]) - _EPS <= p[1] <= max(a[1], b[1]) + _EPS
    )


def _orientation(o: Point, a: Point, b: Point) -> int:
    value = _cross(o, a, b)
    if abs(value) <= _EPS:
        return 0
    return 1 if value > 0 else -1


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Whether the closed segments p1-p2 and q1-q2 share at least one point.

    Touching counts: an anchor that lands exactly on a line on one frame and leaves it on the
    next has crossed it, and each of those two steps only touches.
    """
    d1 = _orientation(q1, q2, p1)
    d2 = _orientation(q1, q2, p2)
    d3 = _orientation(p1, p2, q1)
    d4 = _orientation(p1, p2, q2)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True
    return (
        (d1 == 0 and _within_box(p1, q1, q2))
        or (d2 == 0 and _within_box(p2, q1, q2))
        or (d3 == 0 and _within_box(q1, p1, p2))
        or (d4 == 0 and _within_box(q2, p1, p2))
    )


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    return _orientation(a, b, p) == 0 and _within_box(p, a, b)


@dataclass(frozen=True, slots=True)
class Polygon:
    """A simple polygon (convex or concave) drawn around a floor area.

    Points are listed in order around the outline, either way round; the last point connects back
    to the first. Self-crossing outlines are refused: they usually mean two points were swapped,
    and the area they enclose is not the one the author meant.
    """

    points: tuple[Point, ...]

    def __post_init__(self) -> None:
        points = tuple(check_point(p, f"polygon point {i}") for i, p in enumerate(self.points))
        object.__setattr__(self, "points", points)
        if len(points) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
        # Crossing first: a symmetric bow-tie has zero signed area and would be misreported.
        crossing = self._first_self_crossing()
        if crossing is not None:
            i, j = crossing
            raise ValueError(
                f"polygon edges {i}-{(i + 1) % len(points)} and {j}-{(j + 1) % len(points)} "
                "cross each other; list the points in order around the outline"
            )
        if self.area <= _EPS:
            raise ValueError("polygon has no area: its points are all on one line")

    @classmethod
    def of(cls, points: Iterable[Sequence[float]]) -> Polygon:
        """Build from any sequence of pairs (lists from YAML, tuples from code)."""
        return cls(tuple((float(p[0]), float(p[1])) for p in points))

    @property
    def area(self) -> float:
        """Unsigned shoelace area, in normalised units squared."""
        pts = self.points
        twice = sum(
            pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1]
            for i in range(len(pts))
        )
        return abs(twice) / 2.0

    def _edges(self) -> list[tuple[Point, Point]]:
        pts = self.points
        return [(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts))]

    def _first_self_crossing(self) -> tuple[int, int] | None:
        """Indices of the first two non-adjacent edges that meet, if any (O(n^2): n is small)."""
        edges = self._edges()
        n = len(edges)
        for i in range(n):
            for j in range(i + 2, n):
                if i == 0 and j == n - 1:
                    continue  # they share the closing vertex
                if segments_intersect(*edges[i], *edges[j]):
                    return (i, j)
        return None

    def contains(self, point: Point) -> bool:
        """Even-odd ray casting; points on the outline count as inside.

        The outline is inclusive because a zone drawn along the frame border must hold the anchors
        of boxes clipped to that border, which sit exactly on it.
        """
        x, y = point
        inside = False
        for a, b in self._edges():
            if _on_segment(point, a, b):
                return True
            if (a[1] > y) != (b[1] > y):
                x_at_y = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
                if x < x_at_y:
                    inside = not inside
        return inside


@dataclass(frozen=True, slots=True)
class Line:
    """A directed segment from ``a`` to ``b``; the direction gives crossings a sign.

    "Left" is as seen on screen by someone walking from ``a`` to ``b``: for a line drawn left to
    right across the image, left is up the image.
    """

    a: Point
    b: Point

    def __post_init__(self) -> None:
        a = check_point(self.a, "line point a")
        b = check_point(self.b, "line point b")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        if math.dist(a, b) <= _EPS:
            raise ValueError(f"line has no length: a and b are both {a}")

    @property
    def length(self) -> float:
        return math.dist(self.a, self.b)

    def side(self, point: Point) -> float:
        """Signed perpendicular distance to the infinite line: >0 left of a->b, <0 right, 0 on it.

        A distance rather than a bare sign so that callers can demand a margin (hysteresis)
        before believing an anchor has changed sides.
        """
        # With y pointing down, the usual cross product is positive on the right; negate it.
        return -_cross(self.a, self.b, point) / self.length

    def crossed(self, p_prev: Point, p_now: Point) -> bool:
        """Whether the step p_prev -> p_now meets the segment itself.

        Changing sides of the infinite line is not enough: someone walking around the end of a
        door line has not gone through the door.
        """
        return segments_intersect(p_prev, p_now, self.a, self.b)
