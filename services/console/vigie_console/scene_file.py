"""The scene file as the console reads and writes it: zones and lines to draw over a camera's
still, and the editor's changes merged into the file.

The file is checked by :func:`vigie_runtime.scenes.load_scenes`, the checker of ``vigie
check-config`` and of analytics' hot reload, on the exact bytes about to be written; a candidate
that fails is refused with the checker's message (its line and key) and the file in force is
left alone. A save replaces the file atomically (analytics and tracking read it while it is
written) and keeps the previous version beside it. Only the geometry and the simple rules the
editor offers change: every other key of a zone (schedules, crowd limits, ...) is kept as it was.
Comments in the file are not kept: YAML has no round trip for them in the standard loader.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vigie_core.scene import SceneSpec
from vigie_runtime.scenes import load_scenes
from vigie_runtime.yamlconf import ConfigError

MAX_SHAPES = 64  # zones plus lines per camera from the editor
MAX_POINTS = 64  # corners of one polygon


class SceneRefused(ValueError):
    """The editor's scene is not valid: the message says where and why."""


@dataclass(frozen=True, slots=True)
class Saved:
    camera_id: str
    previous_sha256: str
    sha256: str
    zones: int
    lines: int


def _point(value: Any, where: str) -> list[float]:
    if not (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2):
        raise SceneRefused(f"{where}: a point is [x, y]")
    x, y = value
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y)):
        raise SceneRefused(f"{where}: coordinates must be numbers")
    if not (math.isfinite(x) and math.isfinite(y)):
        raise SceneRefused(f"{where}: coordinates must be finite")
    return [round(float(x), 4), round(float(y), 4)]


def _names(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SceneRefused(f"{where}: a list of class names")
    return [v.strip() for v in value if v.strip()]


def _geometry(spec: SceneSpec, raw_scene: Any) -> dict[str, Any]:
    """The checked spec's shapes, with the editor's simple rules as the file spells them."""
    raw_zones = {
        z.get("name"): z
        for z in (raw_scene if isinstance(raw_scene, dict) else {}).get("zones") or []
        if isinstance(z, dict)
    }
    zones = []
    for zone in spec.zones:
        raw = raw_zones.get(zone.name, {})
        loitering = raw.get("loitering") or {}
        zones.append(
            {
                "name": zone.name,
                "polygon": [list(p) for p in zone.polygon.points],
                "intrusion": zone.intrusion,
                "classes": sorted(zone.classes),
                "loitering_s": loitering.get("max_dwell_s"),
            }
        )
    lines = [
        {
            "name": line.name,
            "a": list(line.line.a),
            "b": list(line.line.b),
            "count_direction": str(line.count_direction),
        }
        for line in spec.lines
    ]
    return {"zones": zones, "lines": lines}


class SceneFile:
    def __init__(self, path: Path | None, writable: bool, backups: int) -> None:
        self.path, self.writable, self.backups = path, writable, backups
        self._lock = threading.Lock()

    # -- reading ----------------------------------------------------------------------------------

    def specs(self) -> dict[str, SceneSpec]:
        """The scenes in force (empty when no file); a broken file raises ConfigError."""
        return load_scenes(self.path) if self.path is not None else {}

    def _raw(self) -> tuple[dict[str, Any], bytes]:
        if self.path is None:
            raise SceneRefused("no scene file is configured (console setting scenes)")
        data = self.path.read_bytes() if self.path.exists() else b""
        loaded = yaml.safe_load(data) if data else None
        document = loaded if isinstance(loaded, dict) else {}
        document.setdefault("cameras", {})
        if not isinstance(document["cameras"], dict):
            raise SceneRefused("the scene file's cameras is not a mapping")
        return document, data

    def geometry(self, camera_id: str) -> dict[str, Any]:
        """What the overlay and the editor draw for one camera (nothing when it has no scene)."""
        return self.geometries().get(camera_id, {"zones": [], "lines": []})

    def geometries(self) -> dict[str, dict[str, Any]]:
        """Camera id -> each zone's polygon and simple rules, each line's ends, as the file has
        them now; one read of the file for every camera a page draws."""
        specs = self.specs()
        if not specs:
            return {}
        document, _ = self._raw()
        return {
            camera_id: _geometry(spec, document["cameras"].get(camera_id))
            for camera_id, spec in specs.items()
        }

    # -- writing ----------------------------------------------------------------------------------

    def candidate(self, camera_id: str, edited: Mapping[str, Any]) -> tuple[bytes, bytes, int, int]:
        """(new file bytes, current bytes, zones, lines): the editor's shapes merged into the
        camera's scene. Raises SceneRefused for malformed input."""
        if not isinstance(edited, Mapping):
            raise SceneRefused("the scene must be an object with zones and lines")
        zones_in, lines_in = edited.get("zones") or [], edited.get("lines") or []
        if not isinstance(zones_in, list) or not isinstance(lines_in, list):
            raise SceneRefused("zones and lines must be lists")
        if len(zones_in) + len(lines_in) > MAX_SHAPES:
            raise SceneRefused(f"at most {MAX_SHAPES} zones and lines per camera")
        document, current = self._raw()
        scene = document["cameras"].get(camera_id) or {}
        if not isinstance(scene, dict):
            raise SceneRefused(f"camera {camera_id!r} in the scene file is not a mapping")
        old_zones = {z.get("name"): z for z in scene.get("zones") or [] if isinstance(z, dict)}
        old_lines = {ln.get("name"): ln for ln in scene.get("lines") or [] if isinstance(ln, dict)}
        zones = []
        for i, zone in enumerate(zones_in):
            where = f"zones[{i}]"
            if not isinstance(zone, Mapping):
                raise SceneRefused(f"{where}: an object")
            name = str(zone.get("name", "")).strip()
            polygon = zone.get("polygon")
            if not isinstance(polygon, list) or len(polygon) > MAX_POINTS:
                raise SceneRefused(f"{where}.polygon: a list of at most {MAX_POINTS} points")
            kept = dict(old_zones.get(name, {}))
            kept.update(
                name=name,
                polygon=[_point(p, f"{where}.polygon[{j}]") for j, p in enumerate(polygon)],
                intrusion=bool(zone.get("intrusion", kept.get("intrusion", True))),
                classes=_names(zone.get("classes", kept.get("classes")), f"{where}.classes"),
            )
            loitering = zone.get("loitering_s")
            if loitering in (None, ""):
                kept.pop("loitering", None)
            else:
                try:
                    kept["loitering"] = {
                        **kept.get("loitering", {}),
                        "max_dwell_s": float(loitering),
                    }
                except (TypeError, ValueError):
                    raise SceneRefused(f"{where}.loitering_s: a number of seconds") from None
            zones.append(kept)
        lines = []
        for i, line in enumerate(lines_in):
            where = f"lines[{i}]"
            if not isinstance(line, Mapping):
                raise SceneRefused(f"{where}: an object")
            name = str(line.get("name", "")).strip()
            kept = dict(old_lines.get(name, {}))
            kept.update(
                name=name,
                a=_point(line.get("a"), f"{where}.a"),
                b=_point(line.get("b"), f"{where}.b"),
            )
            if line.get("count_direction"):
                kept["count_direction"] = str(line["count_direction"])
            lines.append(kept)
        scene = {**scene, "zones": zones, "lines": lines}
        document["cameras"][camera_id] = scene
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
        return text.encode(), current, len(zones), len(lines)

    def check(self, data: bytes) -> None:
        """Run the checker of ``vigie check-config`` on ``data``, as a file beside the real one
        (its includes and relative paths resolve alike). Raises SceneRefused with its words."""
        assert self.path is not None
        with tempfile.NamedTemporaryFile(
            "wb", dir=self.path.parent, prefix=".scene-check-", suffix=".yaml", delete=False
        ) as tmp:
            tmp.write(data)
        try:
            load_scenes(Path(tmp.name))
        except ConfigError as exc:
            raise SceneRefused(str(exc).replace(tmp.name, self.path.name)) from None
        finally:
            os.unlink(tmp.name)

    def write(self, camera_id: str, data: bytes, current: bytes, zones: int, lines: int) -> Saved:
        """Replace the file with ``data`` unless it changed since ``current`` was read."""
        if not self.writable or self.path is None:
            raise SceneRefused("the scene file is read-only here (console setting scenes_writable)")
        with self._lock:
            now = self.path.read_bytes() if self.path.exists() else b""
            if now != current:
                raise SceneRefused("the scene file changed meanwhile; reload the editor")
            if self.backups and now:
                backup = self.path.with_name(f"{self.path.name}.{time.strftime('%Y%m%dT%H%M%S')}")
                backup.write_bytes(now)
                olds = sorted(self.path.parent.glob(f"{self.path.name}.2*"))
                for old in olds[: max(0, len(olds) - self.backups)]:
                    old.unlink(missing_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".scene-", suffix=".yaml")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        return Saved(
            camera_id,
            hashlib.sha256(current).hexdigest(),
            hashlib.sha256(data).hexdigest(),
            zones,
            lines,
        )
