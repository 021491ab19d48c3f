"""Edits of a stored document at a dotted path (list indices as numbers): how the snapshot tests
corrupt one field at a time and check that the reader names it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Mutation = Callable[[dict[str, Any]], Any]


def _parent(doc: dict[str, Any], path: str) -> tuple[Any, str]:
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, last


def set_at(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        node, last = _parent(doc, path)
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


def delete_at(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        node, last = _parent(doc, path)
        del node[int(last) if isinstance(node, list) else last]

    return mutate
