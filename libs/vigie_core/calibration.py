"""From the image to the ground: how many square metres a zone covers, how fast in m/s.

Normalised image units say nothing about the world: a person near the camera moves "faster" on
screen than one far away, and a zone at the back of the image covers more ground than its pixels
suggest. A homography from four image points to four points measured on the ground (in metres)
undoes the perspective for anything on the floor plane, which is where the rules' anchors (the
boxes' bottom-centres) are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vigie_core.geometry import Point, Polygon, check_point


@dataclass(frozen=True, slots=True)
class GroundPlane:
    """A homography ``image (normalised) -> ground (metres)`` fitted on four point pairs."""

    image: tuple[Point, ...]
    ground: tuple[Point, ...]
    matrix: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.image) != 4 or len(self.ground) != 4:
            raise ValueError("a ground calibration needs exactly four image and four ground points")
        image = tuple(
            check_point(p, f"calibration image point {i}") for i, p in enumerate(self.image)
        )
        ground = tuple((float(x), float(y)) for x, y in self.ground)
        if not all(math.isfinite(v) for p in ground for v in p):
            raise ValueError("calibration ground points must be finite numbers (metres)")
        object.__setattr__(self, "image", image)
        object.__setattr__(self, "ground", ground)
        object.__setattr__(self, "matrix", _fit(image, ground))

    @classmethod
    def of(cls, image: Sequence[Sequence[float]], ground: Sequence[Sequence[float]]) -> GroundPlane:
        return cls(
            tuple((float(p[0]), float(p[1])) for p in image),
            tuple((float(p[0]), float(p[1])) for p in ground),
        )

    def to_ground(self, point: Point) -> Point:
        h = self.matrix
        x, y = point
        w = h[6] * x + h[7] * y + h[8]
        return ((h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w)

    def area_m2(self, polygon: Polygon) -> float:
        """The polygon's floor area in square metres (shoelace on the mapped points)."""
        pts = [self.to_ground(p) for p in polygon.points]
        twice = sum(
            pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1]
            for i in range(len(pts))
        )
        return abs(twice) / 2.0

    def distance_m(self, a: Point, b: Point) -> float:
        return math.dist(self.to_ground(a), self.to_ground(b))


def _collinear_triple(points: Sequence[Point], tolerance: float) -> tuple[int, int, int] | None:
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                (ax, ay), (bx, by), (cx, cy) = points[i], points[j], points[k]
                twice_area = abs((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))
                if twice_area <= tolerance:
                    return (i, j, k)
    return None


def _fit(image: Sequence[Point], ground: Sequence[Point]) -> tuple[float, ...]:
    """Direct linear transform on four pairs; refuses degenerate point sets (three points on a
    line, or twice the same point) and checks that the fit maps the four points back."""
    for name, points, tolerance in (("image", image, 1e-6), ("ground", ground, 1e-6)):
        scale = max(1.0, *(abs(v) for p in points for v in p))
        triple = _collinear_triple(points, tolerance * scale * scale)
        if triple is not None:
            raise ValueError(
                f"calibration {name} points {list(triple)} are degenerate: they lie on one line"
                " (or repeat); four points with no three aligned are needed"
            )
    rows = []
    for (x, y), (u, v) in zip(image, ground, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    a = np.asarray(rows, dtype=float)
    _, singular, vt = np.linalg.svd(a)
    if singular[-1] < 1e-9 * singular[0] or abs(vt[-1][-1]) < 1e-12:
        raise ValueError("calibration points are degenerate: no perspective maps them")
    h = vt[-1] / vt[-1][-1]
    matrix = tuple(float(v) for v in h)
    for (x, y), (u, v) in zip(image, ground, strict=True):
        w = matrix[6] * x + matrix[7] * y + matrix[8]
        mapped = (
            (matrix[0] * x + matrix[1] * y + matrix[2]) / w,
            (matrix[3] * x + matrix[4] * y + matrix[5]) / w,
        )
        if math.dist(mapped, (u, v)) > 1e-6 * max(1.0, abs(u), abs(v)):
            raise ValueError("calibration points are degenerate: the fit does not map them back")
    return matrix
