"""Checked reading of a saved state (a snapshot) of one of the core's per-camera objects.

A snapshot comes back from storage or a compacted topic: it may be truncated, corrupted, or
written by another release. Each reader checks one value's type and range and names the field in
its error (``tracks[2].visits["gate"].entered_at: expected a finite number``), so an unusable
snapshot is refused up front with a message that points at the fault, instead of failing later
inside a rule or, worse, carrying on with nonsense. The caller's safe answer to a refusal is a
fresh object, never a half-read one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def invalid(where: str, problem: str) -> ValueError:
    return ValueError(f"unusable snapshot: {where}: {problem}")


def key(where: str, name: str) -> str:
    """The path of entry ``name`` of the object at ``where``: ``visits["gate"]``. JSON quoting
    keeps a name holding dots or brackets readable as one key."""
    return f"{where}[{json.dumps(name, ensure_ascii=False)}]"


def field(obj: Mapping[str, Any], name: str, where: str) -> Any:
    """``obj[name]``; a missing key is an error, a ``None`` value is returned as is."""
    if name not in obj:
        raise invalid(where, f"missing key {name!r}")
    return obj[name]


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


def as_text(value: Any, where: str) -> str:
    """A string that may be empty (a class name a detector left blank)."""
    if not isinstance(value, str):
        raise invalid(where, f"expected a string, got {value!r}")
    return value


def as_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(where, f"expected true or false, got {value!r}")
    return value


def as_int(value: Any, where: str, minimum: int | None, maximum: int | None = None) -> int:
    """A whole number within the bounds given (``None``: unbounded on that side)."""
    # bool is an int subclass: ``true`` where a count belongs is corruption, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(where, f"expected an integer, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            bounds = f">= {minimum}"
        elif minimum is None:
            bounds = f"<= {maximum}"
        else:
            bounds = f"within [{minimum}, {maximum}]"
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


def as_xy(value: Any, where: str) -> tuple[float, float]:
    """An ``(x, y)`` position."""
    x, y = as_floats(value, where, 2)
    return (x, y)


def optional(value: Any, where: str, read: Callable[[Any, str], T]) -> T | None:
    """``None`` as is, anything else through ``read``: for a measure not started yet."""
    return None if value is None else read(value, where)


def entries(value: Any, where: str, names: Sequence[str]) -> dict[str, Any]:
    """An object keyed by exactly ``names`` (zones, lines...), as ``{name: raw value}``.

    A missing name is a truncated snapshot; an unknown one was written for another scene, and
    its state has no rule left to feed.
    """
    obj = as_mapping(value, where)
    unknown = sorted(set(obj) - set(names), key=str)
    if unknown:
        raise invalid(key(where, unknown[0]), "no such name in the scene")
    for name in names:
        if name not in obj:
            raise invalid(where, f"missing key {name!r}")
    return {name: obj[name] for name in names}


def entries_among(value: Any, where: str, names: Sequence[str]) -> dict[str, Any]:
    """An object keyed by some of ``names``, in its own order."""
    obj = as_mapping(value, where)
    allowed = set(names)
    for name in obj:
        if name not in allowed:
            raise invalid(key(where, name), "no such name in the scene")
    return dict(obj)
