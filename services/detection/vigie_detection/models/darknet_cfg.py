"""Reading a Darknet ``.cfg`` file into typed sections.

The cfg is the network's source of truth: layer order, filter counts, routes and YOLO anchors.
Parsing it ourselves (rather than trusting a runtime's importer) is what lets the torch model,
and the ONNX exported from it, be checked against an independent reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vigie_detection.models.errors import ModelCorrupt


@dataclass(frozen=True, slots=True)
class Section:
    """One ``[type]`` block: its options as written, and the line it starts on for errors."""

    kind: str
    line: int
    options: dict[str, str] = field(default_factory=dict)
    source: Path | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.source else f"line {self.line}"

    def _raw(self, key: str, required: bool) -> str | None:
        value = self.options.get(key)
        if value is None and required:
            raise ModelCorrupt(f"{self.where}: [{self.kind}] needs {key}=")
        return value

    def get_int(self, key: str, default: int | None = None) -> int:
        raw = self._raw(key, default is None)
        if raw is None:
            return default  # type: ignore[return-value]
        try:
            return int(raw)
        except ValueError:
            raise ModelCorrupt(f"{self.where}: {key}={raw} is not an integer") from None

    def get_float(self, key: str, default: float | None = None) -> float:
        raw = self._raw(key, default is None)
        if raw is None:
            return default  # type: ignore[return-value]
        try:
            return float(raw)
        except ValueError:
            raise ModelCorrupt(f"{self.where}: {key}={raw} is not a number") from None

    def get_str(self, key: str, default: str) -> str:
        return self.options.get(key, default)

    def get_ints(self, key: str, default: tuple[int, ...] | None = None) -> tuple[int, ...]:
        raw = self._raw(key, default is None)
        if raw is None:
            return default  # type: ignore[return-value]
        try:
            return tuple(int(v) for v in raw.split(",") if v.strip())
        except ValueError:
            raise ModelCorrupt(f"{self.where}: {key}={raw} is not a list of integers") from None

    def get_floats(self, key: str) -> tuple[float, ...]:
        raw = self._raw(key, True) or ""
        try:
            return tuple(float(v) for v in raw.split(",") if v.strip())
        except ValueError:
            raise ModelCorrupt(f"{self.where}: {key}={raw} is not a list of numbers") from None


def parse_cfg_text(text: str, source: Path | None = None) -> list[Section]:
    """Sections in file order; ``#``/``;`` comments and blank lines are ignored."""
    sections: list[Section] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise ModelCorrupt(f"{source}:{number}: malformed section header {line!r}")
            sections.append(Section(line[1:-1].strip().lower(), number, {}, source))
            continue
        if not sections:
            raise ModelCorrupt(f"{source}:{number}: option outside any section: {line!r}")
        key, sep, value = line.partition("=")
        if not sep:
            raise ModelCorrupt(f"{source}:{number}: expected key=value, got {line!r}")
        sections[-1].options[key.strip()] = value.strip()
    if not sections or sections[0].kind not in ("net", "network"):
        raise ModelCorrupt(f"{source}: a Darknet cfg must start with a [net] section")
    return sections


def parse_cfg(path: Path) -> list[Section]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelCorrupt(f"Darknet cfg {path} cannot be read: {exc}") from None
    return parse_cfg_text(text, path)
