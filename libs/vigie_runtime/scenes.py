"""The scene file an operator writes: per camera, the zones and counting lines to watch.

Read by every stage that needs a camera's zones (analytics for its rules, tracking for the time
each track spends in each zone), through :func:`load_scenes`, so both read one file the same way
and can never disagree on what a zone is.

Shape::

    cameras:
      <camera id>:
        timezone: Europe/Paris       # for schedules; default UTC
        calibration:                 # optional: four floor points, image -> metres
          image: [[0.1, 0.9], [0.9, 0.9], [0.7, 0.4], [0.3, 0.4]]
          ground: [[0, 0], [8, 0], [8, 20], [0, 20]]
        occupancy: {classes: [person], period_s: 60}   # default; `false` turns it off
        weapon: {classes: [knife]}   # classes of a plugged-in weapon detector
        zones:
          - name: table
            polygon: [[0.45, 0.55], [0.75, 0.55], [0.75, 1.0], [0.45, 1.0]]
            classes: [person]        # intrusion: forbidden classes; empty = every class
            allowed_classes: []      # never intrude
            min_dwell_s: 0.5         # intrusion after this long, default 0
            intrusion: true          # false: the zone is only for its other rules
            schedule:                # when the zone's rules apply; absent = always
              - {days: [mon, tue, wed, thu, fri], start: "22:00", end: "06:00"}
            area_m2: 12              # floor area, when there is no calibration
            exit_grace_s: 1.0        # seen outside this long before a stay ends (edge jitter)
            loitering: {max_dwell_s: 60}
            wrong_way: {direction: [0, -1]}          # the allowed way: up the image
            stopped_vehicle: {max_stop_s: 30}
            person_down: {min_down_s: 5}
            abandoned: {classes: [backpack, suitcase], static_s: 30, unattended_s: 10}
            crowd: {max_people: 20, max_density_per_m2: 2.0, min_duration_s: 5}
        lines:
          - name: door
            a: [0.1, 0.5]
            b: [0.9, 0.5]
            classes: [person, car]   # optional
            count_direction: both    # both | forward | backward (forward = right->left of a->b)
            hysteresis: 0.01         # optional, normalised distance

Every rule block takes the parameters of its core type, named by meaning and validated there.
The per-stay rules (``loitering``, ``wrong_way``...) are looked up by name in the analytics rule
registry (``vigie_core.analytics.rules``): a zone accepts one block per registered rule, so a new
rule is readable from the file as soon as it is registered. The whole-zone rules (``abandoned``,
``crowd``) are the ones ``vigie_core.scene.ZONE_RULES`` names; intrusion's parameters are the
zone's own keys. Coordinates are normalised
to the frame (0..1, origin top-left). Geometry is checked by the core types themselves
(``Polygon``, ``Line``), so the file and the code can never disagree on what is valid; their
messages surface here as validation errors at the offending key, which
``vigie_runtime.yamlconf.load_model`` maps to a line of the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from vigie_core.analytics.rules import stay_rules
from vigie_core.calibration import GroundPlane
from vigie_core.geometry import Line, Point, Polygon, check_point
from vigie_core.rules import OccupancySpec, WeaponSpec
from vigie_core.scene import (
    DEFAULT_EXIT_GRACE_S,
    DEFAULT_OCCUPANCY,
    ZONE_RULES,
    CountDirection,
    LineSpec,
    SceneSpec,
    ZoneSpec,
)
from vigie_core.schedule import DAYS, Schedule, TimeWindow, parse_clock
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


class WindowConfig(BaseModel):
    """A weekly time window; ``end`` at or before ``start`` runs past midnight."""

    model_config = _STRICT

    days: list[str] = Field(default_factory=lambda: list(DAYS))
    start: str
    end: str

    @model_validator(mode="after")
    def _valid(self) -> WindowConfig:
        self.to_window()
        return self

    def to_window(self) -> TimeWindow:
        return TimeWindow(
            frozenset(self.days), parse_clock(self.start, "start"), parse_clock(self.end, "end")
        )


class CalibrationConfig(BaseModel):
    """Four points on the floor, in the image (normalised) and on the ground (metres)."""

    model_config = _STRICT

    image: list[Coordinate]
    ground: list[Coordinate]

    @model_validator(mode="after")
    def _valid(self) -> CalibrationConfig:
        self.to_plane()
        return self

    def to_plane(self) -> GroundPlane:
        return GroundPlane.of(self.image, self.ground)


class ZoneFields(BaseModel):
    """A floor area and its rules; intrusion is a track anchored in it for ``min_dwell_s``.

    The keys every zone has. :data:`ZoneConfig` adds one optional block per registered
    per-stay rule and per whole-zone rule (``vigie_core.scene.ZONE_RULES``), each read into
    that rule's parameters.
    """

    model_config = _STRICT

    name: Name
    polygon: list[Coordinate]
    classes: list[Name] = Field(default_factory=list)
    allowed_classes: list[Name] = Field(default_factory=list)
    min_dwell_s: float = Field(default=0.0, ge=0.0)
    intrusion: bool = True
    schedule: list[WindowConfig] = Field(default_factory=list)
    area_m2: float | None = Field(default=None, gt=0.0)
    exit_grace_s: float = Field(default=DEFAULT_EXIT_GRACE_S, ge=0.0)

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, points: list[Coordinate]) -> list[Coordinate]:
        Polygon.of(points)  # raises ValueError with the reason, reported at `polygon`
        return points

    def stay_rules(self) -> tuple[Any, ...]:
        """The parameters of every per-stay rule block present in the zone."""
        blocks = (getattr(self, rule.name, None) for rule in _BLOCK_RULES)
        return tuple(params for params in blocks if params is not None)

    def zone_rules(self) -> dict[str, Any]:
        """The parameters of every whole-zone rule, by name (None: the zone has no block)."""
        return {name: getattr(self, name, None) for name in ZONE_RULES}

    def to_spec(self, timezone: str = "UTC") -> ZoneSpec:
        return ZoneSpec(
            name=self.name,
            polygon=Polygon.of(self.polygon),
            classes=frozenset(self.classes),
            min_dwell_s=self.min_dwell_s,
            allowed_classes=frozenset(self.allowed_classes),
            intrusion=self.intrusion,
            schedule=Schedule(tuple(w.to_window() for w in self.schedule), timezone),
            area_m2=self.area_m2,
            exit_grace_s=self.exit_grace_s,
            rules=self.stay_rules(),
            **self.zone_rules(),
        )


# The per-stay rules spelt as a block of their own (intrusion uses the zone's keys).
_BLOCK_RULES = tuple(rule for rule in stay_rules() if not rule.inline)


def _rule_blocks() -> dict[str, Any]:
    """``<rule name>: <its parameters> | None`` for every rule with a block: the registered
    per-stay rules and the whole-zone ones."""
    blocks = {rule.name: rule.params for rule in _BLOCK_RULES}
    clashes = sorted(blocks.keys() & (set(ZoneFields.model_fields) | ZONE_RULES.keys()))
    if clashes:
        raise RuntimeError(f"rules {clashes} are named like a zone key; rename the rule")
    blocks.update(ZONE_RULES)
    return {name: (params | None, None) for name, params in blocks.items()}


if TYPE_CHECKING:
    ZoneConfig = ZoneFields
else:
    ZoneConfig = create_model(
        "ZoneConfig", __base__=ZoneFields, __module__=__name__, **_rule_blocks()
    )
    ZoneConfig.__doc__ = ZoneFields.__doc__


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

    timezone: str = "UTC"
    calibration: CalibrationConfig | None = None
    occupancy: OccupancySpec | bool = True
    weapon: WeaponSpec | None = None
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        Schedule((), name)  # raises ValueError for an unknown IANA name
        return name

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

    @model_validator(mode="after")
    def _densities_have_areas(self) -> CameraScene:
        """A density limit per m² needs the zone's area; say so at load, not at the first frame."""
        for zone in self.zones:
            crowd = zone.zone_rules()["crowd"]
            if crowd is None or crowd.max_density_per_m2 is None:
                continue
            if self.calibration is None and zone.area_m2 is None:
                raise ValueError(
                    f"zone {zone.name!r}: crowd.max_density_per_m2 needs the zone's area; give"
                    " the camera a calibration or the zone an area_m2"
                )
        return self

    def to_spec(self, camera_id: str) -> SceneSpec:
        if self.occupancy is True:
            occupancy: OccupancySpec | None = DEFAULT_OCCUPANCY
        elif self.occupancy is False:
            occupancy = None
        else:
            occupancy = self.occupancy
        return SceneSpec(
            camera_id=camera_id,
            zones=tuple(zone.to_spec(self.timezone) for zone in self.zones),
            lines=tuple(line.to_spec() for line in self.lines),
            ground=None if self.calibration is None else self.calibration.to_plane(),
            occupancy=occupancy,
            weapon=self.weapon,
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
