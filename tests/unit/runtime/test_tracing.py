"""One trace per frame: each stage's span is the child of the span that published its input."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from vigie_core.types import Box, Detection, FrameDetections, FrameRef
from vigie_runtime import codec, headers, tracing
from vigie_runtime.bus import Message, Output
from vigie_runtime.inmemory import InMemoryBus
from vigie_runtime.settings import TracingSettings
from vigie_runtime.stage import MessageContract, Stage
from vigie_runtime.topics import DEAD_LETTERS, DETECTIONS, FRAMES, TRACKS


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure("test", TracingSettings(enabled=True), exporter=exporter)
    yield exporter
    tracing.shutdown()


def detections_message(headers_: dict[str, bytes], t: float | None = None) -> Message:
    t = time.time() if t is None else t
    value = FrameDetections(
        FrameRef("cam", 1, t, 640, 480), (Detection(Box(0.1, 0.1, 0.2, 0.3), "person", 0.9),), "m"
    )
    return Message(DETECTIONS, 2, 7, b"cam", codec.encode(value), headers_)


def stage(handle: object = None) -> Stage[FrameDetections]:
    return Stage(
        name="tracking",
        topics=[DETECTIONS],
        group_id="g",
        decode=lambda m: codec.decode_detections(m.value),
        handle=handle or (lambda d, m: [Output(TRACKS, "cam", b"tracks")]),  # type: ignore[arg-type]
    )


def test_off_by_default_nothing_is_added() -> None:
    assert not tracing.enabled()
    [out] = MessageContract(stage(), DEAD_LETTERS).process(detections_message({}))
    assert tracing.TRACEPARENT not in out.headers
    assert tracing.ids() == {}


def test_a_stage_continues_the_trace_of_its_input(spans: InMemorySpanExporter) -> None:
    with tracing.producing("capture frame", {"vigie.camera_id": "cam"}):
        [frame] = tracing.stamp([Output(FRAMES, "cam", b"jpeg")])
    parent = frame.headers[tracing.TRACEPARENT]
    message = detections_message({tracing.TRACEPARENT: parent.encode()})

    [out] = MessageContract(stage(), DEAD_LETTERS).process(message)

    root, child = sorted(spans.get_finished_spans(), key=lambda s: s.start_time)
    assert root.name == "capture frame" and child.name == "tracking process"
    assert child.context.trace_id == root.context.trace_id
    assert child.parent is not None and child.parent.span_id == root.context.span_id
    assert child.attributes["vigie.camera_id"] == "cam"
    assert child.attributes["messaging.destination.name"] == DETECTIONS
    assert child.attributes["messaging.kafka.offset"] == 7
    assert child.attributes["vigie.frame_time"] > 0
    # The output carries this stage's span on: the next stage is its child.
    trace_id = format(root.context.trace_id, "032x")
    span_id = format(child.context.span_id, "016x")
    version, traced, parent_id, flags = out.headers[tracing.TRACEPARENT].split("-")
    assert (version, traced, parent_id) == ("00", trace_id, span_id)
    assert int(flags, 16) & 1  # sampled


def test_a_dead_letter_marks_the_span_failed(spans: InMemorySpanExporter) -> None:
    bad = Message(DETECTIONS, 0, 0, b"cam", b"not a message")
    [letter] = MessageContract(stage(), DEAD_LETTERS).process(bad)
    assert letter.topic == DEAD_LETTERS
    [span] = spans.get_finished_spans()
    assert not span.status.is_ok and "decode" in (span.status.description or "")


def test_a_publish_under_a_span_carries_it(spans: InMemorySpanExporter) -> None:
    bus = InMemoryBus()
    with tracing.producing("desk verdict"):
        ids = tracing.ids()
        bus.publisher("alerting").publish(Output(TRACKS, "cam", b"x"))
    [record] = bus.messages(TRACKS)
    assert ids["trace_id"] in record.headers[tracing.TRACEPARENT].decode()
    assert record.headers[headers.SCHEMA] == b"vigie.v1.Tracks"


def test_outputs_made_after_their_message_keep_its_context(spans: InMemorySpanExporter) -> None:
    """Detection flushes a batch after its messages' spans ended: each output keeps its own."""
    kept = []

    def collect(decoded: FrameDetections, message: Message) -> list[Output]:
        kept.append(tracing.current())
        return []

    contract = MessageContract(stage(collect), DEAD_LETTERS)
    contract.process(detections_message({}))
    contract.process(detections_message({}))
    first, second = (tracing.stamp([Output(TRACKS, "cam", b"")], c)[0] for c in kept)
    spans_by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    for out in (first, second):
        span_id = int(out.headers[tracing.TRACEPARENT].split("-")[2], 16)
        assert spans_by_id[span_id].name == "tracking process"
    assert first.headers[tracing.TRACEPARENT] != second.headers[tracing.TRACEPARENT]


def test_sampling_off_propagates_the_decision(spans: InMemorySpanExporter) -> None:
    tracing.configure("test", TracingSettings(enabled=True, sample_ratio=0.0), exporter=spans)
    with tracing.producing("capture frame"):
        [frame] = tracing.stamp([Output(FRAMES, "cam", b"jpeg")])
    flags = frame.headers[tracing.TRACEPARENT].split("-")[3]
    assert not int(flags, 16) & 1  # not sampled, and said so downstream
    MessageContract(stage(), DEAD_LETTERS).process(
        detections_message({tracing.TRACEPARENT: frame.headers[tracing.TRACEPARENT].encode()})
    )
    assert spans.get_finished_spans() == ()
