"""Structured JSON logs, one object per line, carrying the camera being processed.

Log collectors index fields, not prose: every line says which service and, when known, which
camera it concerns, so an SRE can follow one camera through every stage.

A line's own fields are :data:`OWN_FIELDS`: ``ts``, ``severity`` (the level name), ``service``,
``logger``, ``message``, ``camera_id`` (from :func:`for_camera`), ``exception``, and
``trace_id``/``span_id`` (the current span's, from :mod:`vigie_runtime.tracing` once a service
has loaded it; absent outside a span). Data passed with ``extra=`` can never overwrite them: an
extra key that names an own field is written under the prefix ``data.`` instead, so
``log.warning("alert escalated", extra={"severity": "critical"})`` gives
``"severity": "WARNING", "data.severity": "critical"``. Other extra keys are written as they
are (``extra={"offset": 42}`` gives ``"offset": 42``); should one already be taken, the prefix
is repeated (``data.data.severity``) until the name is free, so nothing is ever dropped.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator

camera_context: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "vigie_camera", default=None
)

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

# A line's own fields: never taken from ``extra=`` (see the module docstring).
OWN_FIELDS = frozenset(
    {
        "ts",
        "severity",
        "service",
        "logger",
        "message",
        "camera_id",
        "exception",
        "trace_id",
        "span_id",
    }
)
DATA_PREFIX = "data."


def _free_key(entry: dict[str, object], key: str) -> str:
    """Where extra ``key`` goes: its own name unless that is an own field or already taken."""
    if key not in OWN_FIELDS and key not in entry:
        return key
    key = DATA_PREFIX + key
    while key in entry:
        key = DATA_PREFIX + key
    return key


def _trace_ids() -> dict[str, str]:
    """The current span's ids when tracing is loaded; never raises (a log line must not fail)."""
    tracing = sys.modules.get("vigie_runtime.tracing")  # not imported here: it pulls in gRPC
    ids = getattr(tracing, "ids", None)
    if ids is None:
        return {}
    try:
        found = ids()
    except Exception:  # tracing trouble must not cost the log line
        return {}
    return {k: str(v) for k, v in dict(found).items() if k in ("trace_id", "span_id")}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "severity": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        camera = camera_context.get()
        if camera is not None:
            entry["camera_id"] = camera
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        entry.update(_trace_ids())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[_free_key(entry, key)] = value
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@contextlib.contextmanager
def for_camera(camera_id: str | None) -> Iterator[None]:
    """Tag every log line inside the block with ``camera_id``."""
    token = camera_context.set(camera_id)
    try:
        yield
    finally:
        camera_context.reset(token)
