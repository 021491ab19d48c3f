"""Every record says what it holds and who wrote it; a message's own headers win."""

from __future__ import annotations

import pytest

from vigie.v1 import alerts_pb2, frames_pb2
from vigie_runtime import headers
from vigie_runtime.bus import Message, Output
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.stage import dead_letter
from vigie_runtime.topics import (
    ALERTS,
    DEAD_LETTERS,
    EVERY_TOPIC,
    FRAMES,
    STREAM_TOPICS,
    TRACKER_STATE,
)


def test_every_catalogue_topic_names_a_protobuf_message_that_exists() -> None:
    from google.protobuf import symbol_database

    import vigie.v1.alerts_pb2
    import vigie.v1.audit_pb2
    import vigie.v1.cameras_pb2
    import vigie.v1.detections_pb2
    import vigie.v1.events_pb2
    import vigie.v1.frames_pb2
    import vigie.v1.tracks_pb2
    import vigie.v1.verdicts_pb2  # noqa: F401

    pool = symbol_database.Default().pool
    internal = {DEAD_LETTERS} | {spec.name for spec in STREAM_TOPICS}
    for topic in set(EVERY_TOPIC) - internal:
        described = headers.schema_of(topic)
        assert described is not None, topic
        content_type, schema, version = described
        assert version == "1" and topic.endswith(".v1")
        if content_type == headers.PROTOBUF:
            assert pool.FindMessageTypeByName(schema).full_name == schema


def test_audience_topics_carry_alerts_and_unknown_topics_no_schema() -> None:
    assert headers.schema_of("vigie.alerts.security.v1") == headers.schema_of(ALERTS)
    assert headers.schema_of("somebody.elses.topic") is None
    assert headers.schema_of(TRACKER_STATE) == (headers.JSON, "vigie.state.tracker", "1")


def test_a_message_s_own_headers_win_and_the_producer_is_named() -> None:
    stamped = headers.standard(ALERTS, "alerting", {headers.SCHEMA: "mine", "x": "y"})
    assert stamped[headers.SCHEMA] == "mine" and stamped["x"] == "y"
    assert stamped[headers.CONTENT_TYPE] == headers.PROTOBUF
    assert stamped[headers.PRODUCER].startswith("alerting/")


@pytest.mark.parametrize("topic", [FRAMES, ALERTS])
def test_a_published_record_is_described_by_its_headers(topic: str) -> None:
    bus = InMemoryBus()
    bus.publisher("capture").publish(Output(topic, "cam", b"body"))
    [record] = bus.messages(topic)
    assert record.headers[headers.CONTENT_TYPE] == b"application/x-protobuf"
    expected = "vigie.v1.Frame" if topic == FRAMES else "vigie.v1.Alert"
    assert record.headers[headers.SCHEMA] == expected.encode()
    assert record.headers[headers.SCHEMA_VERSION] == b"1"


def test_a_dead_letter_names_the_schema_of_what_it_carries() -> None:
    original = Message(FRAMES, 3, 42, b"cam", frames_pb2.Frame().SerializeToString())
    letter = dead_letter(original, DEAD_LETTERS, "detection", "decode: bad")
    assert letter.headers[headers.SCHEMA] == "vigie.v1.Frame"
    assert letter.headers["vigie.reason"] == "decode: bad"
    bus = InMemoryBus()
    bus.publisher("detection").publish(letter)
    [record] = bus.messages(DEAD_LETTERS)
    assert record.headers[headers.SCHEMA] == b"vigie.v1.Frame"  # not overwritten on the way


def test_a_consumer_decodes_by_the_header_alone() -> None:
    """What a consumer without this repository does: look the schema up, parse."""
    from google.protobuf import message_factory, symbol_database

    bus = InMemoryBus()
    alert = alerts_pb2.Alert(alert_id="a-1", camera_id="cam")
    bus.publisher("alerting").publish(Output(ALERTS, "cam", alert.SerializeToString()))
    [record] = bus.messages(ALERTS)
    descriptor = symbol_database.Default().pool.FindMessageTypeByName(
        record.headers[headers.SCHEMA].decode()
    )
    decoded = message_factory.GetMessageClass(descriptor).FromString(record.value)
    assert decoded.alert_id == "a-1"
