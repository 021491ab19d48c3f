"""The scene file an operator writes: per camera, the zones and counting lines to watch.

Read by every stage that needs a camera's zones (analytics for its rules, tracking for the time
each track spends in each zone), through :func:`load_scenes`, so both read one file the same way
and can never disagree on what a zone is.

Shape::

    cameras:
      <camera id>:
        zones:
          - name: table
            polygon: [[0.45, 0.55], [0.75, 0.55], [0.75, 1.0], [0.45, 1.0]]
            classes: [person]        # optional; empty or absent = every class
            min_dwell_s: 0.5         # optional, default 0
        lines:
          - name: door
            a: [0.1, 0.5]
            b: [0.9, 0.5]
            classes: [person, car]   # optional
            count_direction: both    # both | forward | backward (forward = right->left of a->b)
            hysteresis: 0.01         # optional, normalised distance

Coordinates are normalised to the frame (0..1, origin top-left). Geometry is checked by the core
types themselves (``Polygon``, ``Line``), so the file and the code can never disagree on what is
valid; their messages surface here as validation errors at the offending key, which
``vigie_runtime.yamlconf.load_model`` maps to a line of the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from vigie_core.geometry import Line, Point, Polygon, check_point
from vigie_core.scene import CountDirection, LineSpec, SceneSpec, ZoneSpec
from vigie_runtime.yamlconf import load_model

Name = Annotated[str, Field(min_length=1, pattern=r"\S")]
Coordinate = tuple[float, float]


def _id_text(value: object) -> object:
    """YAML reads an unquoted ``12:`` key as a number; a camera called 12 is still a camera id."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


CameraId = Annotated[str, BeforeValidator(_id_text), Field(min_length=1, pattern=r"\S")]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


def _duplicates(names: Iterable[str]) -> list[str]:
    return sorted(name for name, n in Counter(names).items() if n > 1)


class ZoneConfig(BaseModel):
    """A floor area; an intrusion is a track anchored in it for ``min_dwell_s`` seconds."""

    model_config = _STRICT

    name: Name
    polygon: list[Coordinate]
    classes: list[Name] = Field(default_factory=list)
    min_dwell_s: float = Field(default=0.0, ge=0.0)

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, points: list[Coordinate]) -> list[Coordinate]:
        Polygon.of(points)  # raises ValueError with the reason, reported at `polygon`
        return points

    def to_spec(self) -> ZoneSpec:
        return ZoneSpec(
            name=self.name,
            polygon=Polygon.of(self.polygon),
            classes=frozenset(self.classes),
            min_dwell_s=self.min_dwell_s,
        )


class LineConfig(BaseModel):
    """A counting line from ``a`` to ``b``; forward is crossing from its right to its left."""

    model_config = _STRICT

    name: Name
    a: Coordinate
    b: Coordinate
    classes: list[Name] = Field(default_factory=list)
    count_direction: CountDirection = CountDirection.BOTH
    hysteresis: float = Field(default=0.01, ge=0.0, lt=0.5)

    @field_validator("a", "b")
    @classmethod
    def _on_frame(cls, point: Coordinate) -> Coordinate:
        check_point(point, "line end")
        return point

    @model_validator(mode="after")
    def _valid_line(self) -> LineConfig:
        self._line()  # raises ValueError when a == b
        return self

    def _line(self) -> Line:
        a: Point = (self.a[0], self.a[1])
        b: Point = (self.b[0], self.b[1])
        return Line(a, b)

    def to_spec(self) -> LineSpec:
        return LineSpec(
            name=self.name,
            line=self._line(),
            classes=frozenset(self.classes),
            count_direction=self.count_direction,
            hysteresis=self.hysteresis,
        )


class CameraScene(BaseModel):
    """Every rule of one camera. Names must be unique across its zones and lines: both become
    ``Event.zone``, and an operator must be able to tell which rule fired from the name alone."""

    model_config = _STRICT

    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)

    @field_validator("zones", "lines")
    @classmethod
    def _unique_within_kind(
        cls, rules: list[ZoneConfig] | list[LineConfig]
    ) -> list[ZoneConfig] | list[LineConfig]:
        duplicates = _duplicates(rule.name for rule in rules)
        if duplicates:
            raise ValueError(f"duplicate names {duplicates}; each must be unique in this camera")
        return rules

    @model_validator(mode="after")
    def _unique_across_kinds(self) -> CameraScene:
        shared = sorted({z.name for z in self.zones} & {ln.name for ln in self.lines})
        if shared:
            raise ValueError(
                f"names {shared} are used by both a zone and a line; "
                "names must be unique within a camera"
            )
        return self

    def to_spec(self, camera_id: str) -> SceneSpec:
        return SceneSpec(
            camera_id=camera_id,
            zones=tuple(zone.to_spec() for zone in self.zones),
            lines=tuple(line.to_spec() for line in self.lines),
        )


class SceneFile(BaseModel):
    """The whole file: camera id -> that camera's scene. Cameras not listed are not analysed."""

    model_config = _STRICT

    cameras: dict[CameraId, CameraScene] = Field(default_factory=dict)

    def to_specs(self) -> dict[str, SceneSpec]:
        return {camera: scene.to_spec(camera) for camera, scene in self.cameras.items()}


def load_scenes(path: Path | None) -> dict[str, SceneSpec]:
    """Camera id -> scene from the file at ``path``; none configured (``None``) is no scene.

    Raises ``ConfigError`` naming the file, line and key of the first problem.
    """
    if path is None:
        return {}
    return load_model(path, SceneFile).to_specs()
