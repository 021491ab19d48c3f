"""YAML configuration loading that points at the line of every error.

Operators edit these files by hand; "validation error at cameras.0.zones" is not enough when
the file has two hundred lines, so every pydantic error is mapped back to the YAML line that
holds the offending key (or its closest parent).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

Location = tuple[str | int, ...]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file, line and key."""


def _line_index(node: yaml.Node, prefix: Location, out: dict[Location, int]) -> None:
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*prefix, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*prefix, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*prefix, i), out)


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[Location, int]]:
    """Parse a YAML mapping and index the line of every key and list item."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: cannot read configuration: not UTF-8 text (byte {exc.start})"
        ) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from exc
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of settings, found {type(data).__name__}")
    lines: dict[Location, int] = {}
    if node is not None:
        _line_index(node, (), lines)
    return data, lines


def line_of(loc: Sequence[str | int], lines: dict[Location, int]) -> int | None:
    """The line of the deepest known key on the error's path."""
    for end in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return None


def _origin_of(loc: Location, origins: dict[Location, str]) -> str | None:
    for end in range(len(loc), 0, -1):
        origin = origins.get(tuple(loc[:end]))
        if origin is not None:
            return origin
    return None


def format_validation_error(
    exc: ValidationError,
    path: Path | None,
    lines: dict[Location, int],
    origins: dict[Location, str] | None = None,
) -> str:
    """One line per problem: ``file:line: dotted.key: message``.

    ``origins`` names where values that did not come from the file came from (an environment
    variable, the command line): an error there must not be blamed on a line of the file.
    """
    messages = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(root)"
        origin = _origin_of(loc, origins or {})
        line = line_of(loc, lines) if path is not None else None
        if origin is not None:
            where = f"{origin}: "
        elif path is None:
            where = ""
        elif line is None:
            where = f"{path}: "
        else:
            where = f"{path}:{line}: "
        messages.append(f"{where}{dotted}: {err['msg']}")
    return "\n".join(messages)


def load_model(path: Path, model: type[M]) -> M:
    """Read ``path`` and validate it as ``model``; errors point at file and line."""
    data, lines = read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, path, lines)) from None
