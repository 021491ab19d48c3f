"""Deterministic identifiers.

Every id is a function of what it names, so replaying the same input after a crash writes the
same rows and raises no new alert (at-least-once delivery made idempotent).
"""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1c2c0e-3f4a-5b8e-9d21-7a0c5e4b9f10")


def stable_id(*parts: object) -> str:
    """A UUIDv5 over the parts; the same parts always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def millis(t: float) -> int:
    """Seconds to whole milliseconds: ids built from times must not depend on float noise."""
    return round(t * 1000.0)
