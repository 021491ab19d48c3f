"""Checked reading of a tracker snapshot.

A snapshot arrives from a compacted topic: it may be truncated, corrupted, or written by another
version of the tracker. Each reader checks one value's type and range and names the field in its
error (``tracks[2].covariance[3]``), so an unusable snapshot is refused up front with a message
that points at the fault, instead of failing later inside the filter or, worse, tracking on
nonsense.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SNAPSHOT_VERSION = 1
"""Layout of ``CameraTracker.snapshot``. Bump it whenever a field changes meaning or a new
field is required to reproduce ``update``: a reader must refuse what it cannot replay exactly.

A key that only feeds a track's summary (speed, time in zones, colour votes) is added without a
bump, and read as empty when absent: a snapshot without it still resumes every identity exactly,
and only the summary's measurement restarts. Keeping the version lets releases before and after
the key read each other's snapshots during a rolling upgrade instead of refusing them and
starting the cameras afresh under new track ids."""


def invalid(where: str, problem: str) -> ValueError:
    return ValueError(f"unusable tracker snapshot: {where}: {problem}")


def field(obj: Mapping[str, Any], key: str, where: str) -> Any:
    """``obj[key]``; a missing key is an error, a ``None`` value is returned as is."""
    if key not in obj:
        raise invalid(where, f"missing key {key!r}")
    return obj[key]


def as_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(where, f"expected an object, got {type(value).__name__}")
    return value


def as_list(value: Any, where: str) -> Sequence[Any]:
    # A string is a sequence too, and would otherwise read as a list of characters.
    if not isinstance(value, list | tuple):
        raise invalid(where, f"expected a list, got {type(value).__name__}")
    return value


def as_str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(where, f"expected a non-empty string, got {value!r}")
    return value


def as_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(where, f"expected true or false, got {value!r}")
    return value


def as_int(value: Any, where: str, minimum: int, maximum: int | None = None) -> int:
    # bool is an int subclass: ``true`` where a count belongs is corruption, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(where, f"expected an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"within [{minimum}, {maximum}]"
        raise invalid(where, f"expected an integer {bounds}, got {value}")
    return value


def as_float(value: Any, where: str) -> float:
    """A finite number (a writer may have emitted a whole number without a fraction)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(where, f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise invalid(where, f"expected a finite number, got {value!r}")
    return number


def as_floats(value: Any, where: str, length: int) -> list[float]:
    items = as_list(value, where)
    if len(items) != length:
        raise invalid(where, f"expected {length} numbers, got {len(items)}")
    return [as_float(item, f"{where}[{i}]") for i, item in enumerate(items)]


def as_matrix(value: Any, where: str, rows: int, cols: int) -> list[list[float]]:
    items = as_list(value, where)
    if len(items) != rows:
        raise invalid(where, f"expected a {rows}x{cols} matrix, got {len(items)} rows")
    return [as_floats(row, f"{where}[{i}]", cols) for i, row in enumerate(items)]


def as_point(value: Any, where: str) -> tuple[float, float, float]:
    """A ``(t, x, y)`` path point."""
    t, x, y = as_floats(value, where, 3)
    return (t, x, y)
