"""The headers every message carries, so a consumer knows what it holds without our code.

A service that consumes a Vigie topic should not need this repository to pick the right decoder,
nor guess who wrote a message when something goes wrong. Every record a publisher sends carries:

- ``content-type``: ``application/x-protobuf`` for the messages of the event catalogue,
  ``application/json`` for the internal state documents;
- ``vigie.schema``: the full name of the protobuf message (``vigie.v1.Alert``) or of the JSON
  document (``vigie.state.tracker``), and ``vigie.schema.version``: its major version, the
  ``v1`` of the package and of the topic's name (a breaking change is a new topic);
- ``vigie.producer``: which component wrote it (``tracking``, ``capture-status``...), the
  release and the host, for the SRE reading a dead letter;
- ``traceparent`` (W3C Trace Context) when a trace is being carried.

Headers a message sets itself win: a dead letter names the schema of the message it carries,
not that of the dead-letter topic. Audience topics named by the alert policy carry alerts.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from functools import cache
from importlib import metadata

from vigie_runtime import tracing
from vigie_runtime.topics import (
    ALERTING_STATE,
    ALERTS,
    ALERTS_JSON,
    ANALYTICS_STATE,
    AUDIT,
    CAMERA_STATUS,
    DETECTIONS,
    EVENTS,
    FRAMES,
    TRACKER_STATE,
    TRACKS,
    VERDICTS,
)

CONTENT_TYPE = "content-type"
SCHEMA = "vigie.schema"
SCHEMA_VERSION = "vigie.schema.version"
PRODUCER = "vigie.producer"

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# Topic -> (content type, schema full name, major version).
_BY_TOPIC: dict[str, tuple[str, str, str]] = {
    FRAMES: (PROTOBUF, "vigie.v1.Frame", "1"),
    DETECTIONS: (PROTOBUF, "vigie.v1.Detections", "1"),
    TRACKS: (PROTOBUF, "vigie.v1.Tracks", "1"),
    EVENTS: (PROTOBUF, "vigie.v1.Event", "1"),
    ALERTS: (PROTOBUF, "vigie.v1.Alert", "1"),
    ALERTS_JSON: (JSON, "vigie.v1.Alert", "1"),
    VERDICTS: (PROTOBUF, "vigie.v1.Verdict", "1"),
    AUDIT: (PROTOBUF, "vigie.v1.AuditRecord", "1"),
    CAMERA_STATUS: (PROTOBUF, "vigie.v1.CameraStatus", "1"),
    TRACKER_STATE: (JSON, "vigie.state.tracker", "1"),
    ANALYTICS_STATE: (JSON, "vigie.state.analytics", "1"),
    ALERTING_STATE: (JSON, "vigie.state.alerting", "1"),
}
# Audience topics (``vigie.alerts.<audience>.v1``) carry alerts like the alerts topic.
_ALERT_AUDIENCE_PREFIX = "vigie.alerts."


def schema_of(topic: str) -> tuple[str, str, str] | None:
    """(content type, schema, major version) of what ``topic`` carries; None if unknown."""
    found = _BY_TOPIC.get(topic)
    if found is None and topic.startswith(_ALERT_AUDIENCE_PREFIX) and topic.endswith(".v1"):
        found = _BY_TOPIC[ALERTS]
    return found


@cache
def _release() -> str:
    try:
        return metadata.version("vigie")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@cache
def _host() -> str:
    return socket.gethostname()


def producer(client_id: str) -> str:
    return f"{client_id}/{_release()}@{_host()}"


def standard(topic: str, client_id: str, own: Mapping[str, str]) -> dict[str, str]:
    """The headers of a record on ``topic`` from ``client_id``, under its ``own`` headers."""
    headers = {PRODUCER: producer(client_id)}
    described = schema_of(topic)
    if described is not None:
        content_type, schema, version = described
        headers.update({CONTENT_TYPE: content_type, SCHEMA: schema, SCHEMA_VERSION: version})
    headers.update(tracing.context_headers())  # a publish under a span continues its trace
    headers.update(own)
    return headers


def for_source(topic: str) -> dict[str, str]:
    """The schema headers of a message taken from ``topic`` (a dead letter carries them)."""
    described = schema_of(topic)
    if described is None:
        return {}
    content_type, schema, version = described
    return {CONTENT_TYPE: content_type, SCHEMA: schema, SCHEMA_VERSION: version}
