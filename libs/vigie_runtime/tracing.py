"""Traces from capture to alert: one span per stage per message, one trace per frame.

An operator's alert started as one camera frame. To see where its time went (or why it never
came), every stage opens a span for each message it handles, as a child of the span that
produced the message, and passes its own context on in the headers of what it publishes (W3C
Trace Context, ``traceparent``; on gRPC in the call's metadata). Capture opens the root span of
each frame. A span names the stage, the camera, the frame time, the topic, partition and offset;
the log lines written under it carry its trace and span ids.

Off by default (``tracing.enabled``): then nothing is created, propagated or exported, and a
message costs one flag test. On, spans go by OTLP/gRPC to ``tracing.otlp_endpoint`` (a
collector: the compose file runs one), sampled at ``tracing.sample_ratio`` of new traces, the
sampling decision travelling with the trace so a frame is traced through every stage or none.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from vigie_runtime.bus import Message, Output
from vigie_runtime.settings import TracingSettings

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
_TRACER_NAME = "vigie"

_enabled = False
_provider: Any = None


def configure(service: str, settings: TracingSettings, exporter: Any = None) -> None:
    """Install this process's tracer provider when tracing is on; a no-op otherwise.

    ``exporter`` replaces the OTLP exporter (tests give an in-memory one; spans then go out
    one by one instead of in batches)."""
    global _enabled, _provider
    if not settings.enabled:
        shutdown()
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    resource = Resource.create(
        {"service.name": f"vigie-{service}", "service.namespace": "vigie", **settings.attributes}
    )
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio))
    )
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        otlp = OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=settings.insecure)
        provider.add_span_processor(BatchSpanProcessor(otlp, schedule_delay_millis=1000))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Kept here rather than installed globally: a process (or a test) can configure again.
    _provider = provider
    _enabled = True
    log.info(
        "tracing on",
        extra={"endpoint": settings.otlp_endpoint, "sample_ratio": settings.sample_ratio},
    )


def shutdown() -> None:
    """Export what is buffered (at a clean stop: the last spans are the interesting ones) and
    turn tracing off."""
    global _enabled, _provider
    provider, _provider, _enabled = _provider, None, False
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _enabled


def _tracer() -> trace.Tracer:
    if _provider is None:
        return trace.NoOpTracer()
    return _provider.get_tracer(_TRACER_NAME)


def _carrier(headers: Mapping[str, bytes]) -> dict[str, str]:
    return {
        k: v.decode("latin-1") if isinstance(v, bytes) else str(v)
        for k, v in headers.items()
        if k in (TRACEPARENT, "tracestate")
    }


@contextlib.contextmanager
def consuming(
    stage: str, message: Message, attributes: Mapping[str, Any] | None = None
) -> Iterator[trace.Span | None]:
    """The span of ``stage`` handling ``message``, child of the span that published it."""
    if not _enabled:
        yield None
        return
    parent = propagate.extract(_carrier(message.headers))
    span_attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": message.topic,
        "messaging.destination.partition.id": str(message.partition),
        "messaging.kafka.offset": message.offset,
        "vigie.stage": stage,
    }
    if message.camera_id:
        span_attributes["vigie.camera_id"] = message.camera_id
    span_attributes.update(attributes or {})
    with _tracer().start_as_current_span(
        f"{stage} process", context=parent, kind=SpanKind.CONSUMER, attributes=span_attributes
    ) as span:
        yield span


@contextlib.contextmanager
def producing(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[None]:
    """A root span (capture's frame), current while its outputs are stamped."""
    if not _enabled:
        yield
        return
    with _tracer().start_as_current_span(
        name, kind=SpanKind.PRODUCER, attributes=dict(attributes or {})
    ):
        yield


def set_attribute(span: trace.Span | None, key: str, value: Any) -> None:
    if span is not None and value is not None:
        span.set_attribute(key, value)


def record_failure(span: trace.Span | None, reason: str) -> None:
    if span is not None:
        span.set_status(Status(StatusCode.ERROR, reason[:500]))


def current() -> otel_context.Context | None:
    """The current context, to stamp outputs made later (a batch flushed after its messages)."""
    return otel_context.get_current() if _enabled else None


def stamp(outputs: list[Output], context: otel_context.Context | None = None) -> list[Output]:
    """``outputs`` with the current (or given) trace context in their headers."""
    if not _enabled or not outputs:
        return outputs
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    if not carrier:
        return outputs
    return [
        o if TRACEPARENT in o.headers else replace(o, headers={**o.headers, **carrier})
        for o in outputs
    ]


def ids() -> dict[str, str]:
    """The current trace and span ids, for log lines; empty outside a sampled span."""
    if not _enabled:
        return {}
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
    }


def context_headers() -> dict[str, str]:
    """The current context as record headers; empty when tracing is off or no span is on."""
    if not _enabled:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def grpc_metadata() -> list[tuple[str, str]]:
    """The current context as gRPC metadata, for a call made under a span."""
    if not _enabled:
        return []
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return list(carrier.items())


@contextlib.contextmanager
def serving(method: str, metadata: Mapping[str, str]) -> Iterator[trace.Span | None]:
    """The span of a gRPC call served, child of the caller's span when it sent one."""
    if not _enabled:
        yield None
        return
    parent = propagate.extract(
        {k: v for k, v in metadata.items() if k in (TRACEPARENT, "tracestate")}
    )
    with _tracer().start_as_current_span(
        method,
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.method": method},
    ) as span:
        yield span


class ServerTracing(grpc.ServerInterceptor):
    """A span around each unary call served, child of the caller's span when it sent one, so
    what the call publishes (a verdict, its journal record) continues the caller's trace."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or not _enabled or handler.request_streaming:
            return handler
        if handler.response_streaming or handler.unary_unary is None:
            return handler  # streams live for minutes: a span per stream would mean nothing
        method = handler_call_details.method
        metadata = {k: v for k, v in (handler_call_details.invocation_metadata or ())}
        behaviour = handler.unary_unary

        def traced(request: Any, context: grpc.ServicerContext) -> Any:
            with serving(method, metadata):
                return behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(
            traced,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
