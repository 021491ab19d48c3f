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


def _fit(image: Sequence[Point], ground: Sequence[Point]) -> tuple[float, ...]:
    """Direct linear transform on four pairs; refuses degenerate (collinear) point sets."""
    rows = []
    for (x, y), (u, v) in zip(image, ground, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    a = np.asarray(rows, dtype=float)
    _, singular, vt = np.linalg.svd(a)
    if singular[-2] < 1e-9 * singular[0]:
        raise ValueError("calibration points are degenerate: three of them lie on one line")
    h = vt[-1] / vt[-1][-1]
    return tuple(float(v) for v in h)
