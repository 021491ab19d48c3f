"""A log line's own fields (time, severity, service, logger, message, camera, exception) cannot
be overwritten by the data a record carries: that data is kept under ``data.<name>``."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from vigie_runtime.logs import DATA_PREFIX, OWN_FIELDS, JsonFormatter, for_camera


@pytest.fixture
def log_and_stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("vigie-test"))
    logger = logging.getLogger("vigie.test.log-fields")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_alert_severity_does_not_overwrite_the_log_severity(
    log_and_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = log_and_stream
    log.warning("x", extra={"severity": "critical"})
    [entry] = lines(stream)
    assert entry["severity"] == "WARNING"
    assert entry["data.severity"] == "critical"


def test_no_own_field_can_be_overwritten_by_extra(
    log_and_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = log_and_stream
    carried = {name: f"forged-{name}" for name in OWN_FIELDS if name != "message"}
    with for_camera("cam-1"):
        try:
            raise ValueError("real")
        except ValueError:
            log.exception("the real message", extra=carried)
    [entry] = lines(stream)
    assert entry["severity"] == "ERROR"
    assert entry["service"] == "vigie-test"
    assert entry["logger"] == "vigie.test.log-fields"
    assert entry["message"] == "the real message"
    assert entry["camera_id"] == "cam-1"
    assert entry["exception"].startswith("Traceback")
    assert entry["ts"].endswith("Z") and not entry["ts"].startswith("forged")
    for name, value in carried.items():
        assert entry[DATA_PREFIX + name] == value


def test_other_extra_fields_keep_their_names(
    log_and_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = log_and_stream
    log.info("batch", extra={"offset": 42, "alert_id": "a-1"})
    [entry] = lines(stream)
    assert (entry["offset"], entry["alert_id"]) == (42, "a-1")
    assert not any(key.startswith(DATA_PREFIX) for key in entry)


def test_a_prefixed_extra_key_is_not_lost_either(
    log_and_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = log_and_stream
    log.info("both", extra={"data.severity": "given as such", "severity": "critical"})
    [entry] = lines(stream)
    assert entry["severity"] == "INFO"
    assert {entry["data.severity"], entry["data.data.severity"]} == {"given as such", "critical"}


def test_the_message_key_itself_is_refused_by_logging(
    log_and_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    # The standard library already refuses to overwrite "message" from extra.
    log, _ = log_and_stream
    with pytest.raises(KeyError):
        log.info("x", extra={"message": "forged"})


def test_trace_ids_come_from_the_current_span_not_from_extra(
    log_and_stream: tuple[logging.Logger, io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    log, stream = log_and_stream
    tracing = types.ModuleType("vigie_runtime.tracing")
    tracing.ids = lambda: {"trace_id": "a" * 32, "span_id": "b" * 16}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vigie_runtime.tracing", tracing)
    log.info("in a span", extra={"trace_id": "forged"})
    monkeypatch.setattr(tracing, "ids", lambda: {})
    log.info("outside any span")
    monkeypatch.setattr(tracing, "ids", lambda: 1 / 0)
    log.info("tracing broken")
    inside, outside, broken = lines(stream)
    assert (inside["trace_id"], inside["span_id"]) == ("a" * 32, "b" * 16)
    assert inside["data.trace_id"] == "forged"
    assert "trace_id" not in outside and "span_id" not in outside
    assert broken["message"] == "tracing broken" and "trace_id" not in broken
